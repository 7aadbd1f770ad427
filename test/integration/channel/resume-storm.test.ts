/**
 * Resumption under a storm (DESIGN §8.1): 200 seeded rounds, each pairing two channels and
 * streaming random MUX bytes and CONTROL messages both ways while the carrier is cut at random
 * points — closed or black-holed, the client's, the agent's or both (a relay restart), with
 * the relay holding or dropping what it read meanwhile, with small key-update intervals so
 * KEY_UPDATEs fall inside outages, and small retransmit bounds so writers hit backpressure.
 * The invariant, checked after every round: each side received exactly the bytes and
 * controls the other sent, in order, no duplicates, and both retransmit queues end empty.
 * A failing round names its seed; `STORM_SEED=n` replays it alone.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import type { SecureChannel, SecureChannelOptions } from '../../../src/channel/index.js';
import { within } from '../../helpers/channel-pair.js';
import { Sink, pairResumable, seededRandom, turns } from '../../helpers/resumable-pair.js';
import type { Role } from '../../helpers/splicing-relay.js';
import { SplicingRelay } from '../../helpers/splicing-relay.js';
import { waitUntil } from '../../helpers/wait-until.js';

const ROUNDS = 200;

interface Plan {
  readonly chunks: Buffer[];
  /** Before which chunk each control goes (sorted), and its number. */
  readonly controls: Array<{ before: number; n: number }>;
}

function plan(random: () => number, maxBytes: number): Plan {
  const chunks: Buffer[] = [];
  let total = 0;
  const target = 1 + Math.floor(random() * maxBytes);
  while (total < target) {
    // Sizes come from the seed (they shape the schedule); contents need only be unpredictable.
    const size = 1 + Math.floor(random() * (random() < 0.8 ? 4096 : 40_000));
    chunks.push(randomBytes(size));
    total += size;
  }
  const controls: Array<{ before: number; n: number }> = [];
  const count = Math.floor(random() * 12);
  for (let n = 0; n < count; n++) controls.push({ before: Math.floor(random() * (chunks.length + 1)), n });
  controls.sort((a, b) => a.before - b.before || a.n - b.n);
  return { chunks, controls: controls.map((c, n) => ({ before: c.before, n })) };
}

/** Send a plan in order, honouring backpressure (writes wait while the channel is at its bound). */
async function produce(channel: SecureChannel, p: Plan, random: () => number): Promise<void> {
  let control = 0;
  for (let i = 0; i <= p.chunks.length; i++) {
    while (control < p.controls.length && p.controls[control]!.before === i) {
      channel.sendControl({ type: 'probe', n: p.controls[control]!.n });
      control += 1;
    }
    if (i === p.chunks.length) break;
    if (!channel.mux.write(p.chunks[i]!)) await within(once(channel.mux, 'drain'), 20_000, 'drain');
    if (random() < 0.3) await turns(1);
  }
}

type Cut = 'close' | 'blackhole';

async function disrupt(relay: SplicingRelay, channels: Record<Role, SecureChannel>, random: () => number, seed: number): Promise<void> {
  const cuts = 1 + Math.floor(random() * 3);
  for (let cut = 0; cut < cuts; cut++) {
    await turns(Math.floor(random() * 12));
    const roles: Role[] = random() < 0.2 ? ['agent', 'client'] : [random() < 0.5 ? 'agent' : 'client'];
    const kind: Cut = random() < 0.6 ? 'close' : 'blackhole';
    relay.holdWhileAway = random() < 0.5;
    const suspended = roles.map((role) => (channels[role].state === 'live' ? once(channels[role], 'suspend') : Promise.resolve()));
    for (const role of roles) {
      if (kind === 'close') {
        relay.cut(role);
      } else {
        // The endpoint's liveness check notices the silence and gives the carrier up itself.
        relay.blackhole(role);
        channels[role].suspend();
      }
    }
    await within(Promise.all(suspended), 5000, `seed ${seed}: suspend ${roles.join('+')}`);
    await turns(Math.floor(random() * 6));
    const order = random() < 0.5 ? roles : [...roles].reverse();
    const attempts = order.map((role) => channels[role].resume(relay.connect(role)));
    await within(Promise.all(attempts), 5000, `seed ${seed}: resume ${roles.join('+')} after ${kind}`);
  }
}

async function stormRound(seed: number): Promise<void> {
  const random = seededRandom(seed);
  const options: SecureChannelOptions = {
    ...(random() < 0.5 && { records: { keyUpdateLimit: 3 + Math.floor(random() * 40) } }),
    ...(random() < 0.5 && { retransmitMaxBytes: 16 * 1024 + Math.floor(random() * 256 * 1024) }),
    ...(random() < 0.5 && { muxChunkBytes: 512 + Math.floor(random() * 32 * 1024) }),
    ...(random() < 0.5 && { acks: { everyRecords: 1 + Math.floor(random() * 32), everyBytes: 1024 + Math.floor(random() * 256 * 1024), delayMs: 1 + Math.floor(random() * 10) } }),
  };
  const relay = new SplicingRelay({ highWaterMark: 16 * 1024 + Math.floor(random() * 256 * 1024) });
  const pair = await pairResumable(options, { relay });
  const { agent, client } = pair;
  // A side that aborts fails the round with its own error, not with a later "channel closed".
  const aborted = new Promise<never>((_resolve, reject) => {
    for (const [name, channel] of [['agent', agent], ['client', client]] as const) {
      void channel.closed.then((error) => reject(new Error(`seed ${seed}: the ${name} aborted: ${error?.code ?? 'closed'} ${error?.message ?? ''}`)));
    }
  });
  aborted.catch(() => undefined);
  try {
    const atAgent = new Sink(agent);
    const atClient = new Sink(client);
    const down = plan(random, 256 * 1024);
    const up = plan(random, 128 * 1024);
    await within(
      Promise.race([aborted, Promise.all([produce(agent, down, random), produce(client, up, random), disrupt(relay, { agent, client }, random, seed)])]),
      30_000,
      `seed ${seed}: streams and cuts`,
    );
    const downBytes = Buffer.concat(down.chunks);
    const upBytes = Buffer.concat(up.chunks);
    await waitUntil(
      () => atClient.length >= downBytes.length && atAgent.length >= upBytes.length && atClient.controls.length >= down.controls.length && atAgent.controls.length >= up.controls.length,
      10_000,
      `seed ${seed}: everything delivered`,
    );
    await waitUntil(
      () => agent.stats.retainedRecords === 0 && client.stats.retainedRecords === 0,
      5000,
      `seed ${seed}: queues empty (agent ${JSON.stringify(agent.stats)} ${agent.state}, client ${JSON.stringify(client.stats)} ${client.state})`,
    );
    assert.equal(agent.isClosed || client.isClosed, false, `seed ${seed}: neither side aborted`);
    assert.ok(atClient.bytes.equals(downBytes), `seed ${seed}: agent → client bytes exactly (${atClient.length} of ${downBytes.length})`);
    assert.ok(atAgent.bytes.equals(upBytes), `seed ${seed}: client → agent bytes exactly (${atAgent.length} of ${upBytes.length})`);
    assert.deepEqual(atClient.controls.map((m) => m['n']), down.controls.map((c) => c.n), `seed ${seed}: agent → client controls`);
    assert.deepEqual(atAgent.controls.map((m) => m['n']), up.controls.map((c) => c.n), `seed ${seed}: client → agent controls`);
    assert.equal(agent.stats.retainedBytes + client.stats.retainedBytes, 0, `seed ${seed}: no retained bytes`);
  } finally {
    agent.close();
    client.close();
  }
}

describe('resumption storm', () => {
  it(`${ROUNDS} rounds of random cuts while both sides stream: every byte once, in order; queues empty`, { timeout: 300_000 }, async () => {
    const only = process.env['STORM_SEED'];
    const seeds = only === undefined ? Array.from({ length: ROUNDS }, (_, i) => i + 1) : [Number(only)];
    for (const seed of seeds) await stormRound(seed);
  });
});
