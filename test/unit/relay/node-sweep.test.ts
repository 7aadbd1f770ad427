/**
 * The node sweep's timer (src/relay/node-sweep.ts) against a scripted store: it sweeps a node only
 * once it has seen it without a lease for a whole lease (a node that renews meanwhile, as every
 * live node does within a third of the lease after Redis lost its data, is never swept), always
 * asks as its own node with the bound per run, sweeps again soon after a run that left sessions for later,
 * logs a failed run and tries again at the next tick, reports each swept node once (log line,
 * counters, the sessions it ended), and stops for good.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import type { Logger } from 'pino';
import { KubepairError } from '../../../src/errors/index.js';
import { RELAY_NODE_SWEEP_BATCH, RELAY_NODE_SWEEP_CATCH_UP_MS } from '../../../src/limits.js';
import { NodeSweep } from '../../../src/relay/node-sweep.js';
import { RelayMetrics } from '../../../src/relay/relay-metrics.js';
import type { NodeSweepReport, SessionStore } from '../../../src/relay/session-store.js';

const SELF = 'http://127.0.0.1:7';
const DEAD = 'http://127.0.0.1:9';
const LEASE_MS = 3_000;
/** The longest interval between two sweeps: a third of the lease, +25%. */
const LONGEST_MS = (LEASE_MS / 3) * 1.25;

function newMetrics(): RelayMetrics {
  return new RelayMetrics({
    sessionCounts: () => Promise.resolve({ waiting: 0, claimed: 0, established: 0, suspended: 0, resumable: 0, recreatedWaiting: 0 }),
    openSockets: () => ({ agent: 0, client: 0 }),
    queuedBytes: () => 0,
  });
}

async function sample(metrics: RelayMetrics, labels: string): Promise<number | undefined> {
  const text = await metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`kubepair_relay_swept_sides_total${labels} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

/** Let the store's answer and the sweep's handling of it run (real setImmediate: only setTimeout is mocked). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe('node sweep timer', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'] }));
  afterEach(() => mock.timers.reset());

  it('asks as its own node within the bound, sweeps again soon when sessions are left, survives a failed run, and stops', async () => {
    const calls: Array<[string, number]> = [];
    const answers: Array<readonly NodeSweepReport[] | Error> = [
      [{ node: DEAD, suspended: 2, released: 1, ended: [{ id: 's1', reason: 'agent_left' }], left: 5 }],
      new KubepairError('KP_ERR_RELAY_STORE_UNAVAILABLE', 'Redis: gone'),
      [],
    ];
    const store = {
      leaselessNodes: (): Promise<readonly string[]> => Promise.resolve([DEAD]),
      sweepDeadNodes(self: string, limit: number, only?: readonly string[]): Promise<readonly NodeSweepReport[]> {
        assert.deepEqual(only, [DEAD], 'only the node watched for a whole lease');
        calls.push([self, limit]);
        const answer = answers.shift() ?? [];
        return answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer);
      },
    } as unknown as SessionStore;
    const lines: Array<Record<string, unknown>> = [];
    const log = { warn: (record: Record<string, unknown>) => lines.push(record) } as unknown as Logger;
    const metrics = newMetrics();
    const ended: string[] = [];
    const sweep = new NodeSweep({ nodeId: SELF, store, leaseMs: LEASE_MS, log, metrics, onEnded: (id, reason) => ended.push(`${id}:${reason}`) });

    mock.timers.tick(LEASE_MS / 3 * 0.75 - 1);
    assert.equal(calls.length, 0, 'not before three quarters of a third of the lease');
    // Seen without a lease at the first tick; swept at the first tick a whole lease later.
    let waited = 0;
    while (calls.length === 0 && waited <= LEASE_MS + 2 * LONGEST_MS) {
      mock.timers.tick(100);
      waited += 100;
      await settle();
    }
    assert.ok(waited >= LEASE_MS, `swept ${waited} ms after the first tick: not before a whole lease`);
    assert.deepEqual(calls, [[SELF, RELAY_NODE_SWEEP_BATCH]]);
    assert.deepEqual(lines.map((l) => [l['event'], l['node'], l['suspended'], l['released'], l['ended'], l['left']]), [['node_swept', DEAD, 2, 1, 1, 5]]);
    assert.deepEqual(ended, ['s1:agent_left']);
    assert.deepEqual(
      [await sample(metrics, '{action="suspended"}'), await sample(metrics, '{action="released"}'), await sample(metrics, '{action="ended"}')],
      [2, 1, 1],
    );

    // Sessions left: the next run comes after the catch-up delay, not a full interval.
    mock.timers.tick(RELAY_NODE_SWEEP_CATCH_UP_MS - 1);
    await settle();
    assert.equal(calls.length, 1);
    mock.timers.tick(1);
    await settle();
    assert.equal(calls.length, 2);
    assert.equal(lines.at(-1)?.['event'], 'node_sweep_failed', 'a failed run is logged');

    // And the timer goes on after it.
    mock.timers.tick(LONGEST_MS);
    await settle();
    assert.deepEqual(calls, [[SELF, RELAY_NODE_SWEEP_BATCH], [SELF, RELAY_NODE_SWEEP_BATCH], [SELF, RELAY_NODE_SWEEP_BATCH]]);
    assert.equal(lines.length, 2, 'an empty run logs nothing');

    await sweep.stop();
    mock.timers.tick(LONGEST_MS * 10);
    await settle();
    assert.equal(calls.length, 3, 'stopped for good');
  });

  it('a node that renews its lease within a lease of being seen without one is never swept (Redis restarted empty)', async () => {
    const leaseless: string[][] = [[DEAD], [DEAD], [], [DEAD], [DEAD]];
    let swept = 0;
    const store = {
      leaselessNodes: (): Promise<readonly string[]> => Promise.resolve(leaseless.shift() ?? []),
      sweepDeadNodes: (): Promise<readonly NodeSweepReport[]> => {
        swept++;
        return Promise.resolve([]);
      },
    } as unknown as SessionStore;
    const log = { warn: () => undefined } as unknown as Logger;
    const sweep = new NodeSweep({ nodeId: SELF, store, leaseMs: LEASE_MS, log, metrics: newMetrics(), onEnded: () => undefined });
    // Five ticks, each under half a lease apart: seen, seen, renewed, seen, seen: never a whole lease in a row.
    for (let tick = 0; tick < 5; tick++) {
      mock.timers.tick(LONGEST_MS);
      await settle();
    }
    assert.equal(leaseless.length, 0, 'five ticks ran');
    assert.equal(swept, 0);
    await sweep.stop();
  });
});
