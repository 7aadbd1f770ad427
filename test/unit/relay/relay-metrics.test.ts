/**
 * The relay's forwarding tallies (src/relay/relay-metrics.ts, issue 15): the byte path adds plain
 * numbers per frame, and the counters `kubepair_relay_forwarded_bytes_total`,
 * `kubepair_relay_forwarded_frames_total` and `kubepair_relay_relayed_bytes_total` must still show
 * every byte exactly once, per label, whenever they are read.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RelayMetrics } from '../../../src/relay/relay-metrics.js';

function newMetrics(): RelayMetrics {
  return new RelayMetrics({
    sessionCounts: () => Promise.resolve({ waiting: 0, claimed: 0, established: 0, suspended: 0, resumable: 0, recreatedWaiting: 0 }),
    openSockets: () => ({ agent: 0, client: 0 }),
    queuedBytes: () => 0,
  });
}

/** The value of `name` with exactly `labels` in the registry's text, or undefined. */
async function sample(metrics: RelayMetrics, name: string, labels: string): Promise<number | undefined> {
  const text = await metrics.registry.metrics();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

describe('relay forwarding tallies', () => {
  it('one tally per direction and splice kind, shared by every caller', () => {
    const metrics = newMetrics();
    assert.equal(metrics.forwardTally('agent_to_client', 'local'), metrics.forwardTally('agent_to_client', 'local'));
    assert.notEqual(metrics.forwardTally('agent_to_client', 'local'), metrics.forwardTally('agent_to_client', 'remote'));
    assert.notEqual(metrics.forwardTally('agent_to_client', 'local'), metrics.forwardTally('client_to_agent', 'local'));
  });

  it('no series before a frame; then every byte and frame once per label, however often the counters are read', async () => {
    const metrics = newMetrics();
    const forwarded = 'kubepair_relay_forwarded_bytes_total';
    const up = metrics.forwardTally('agent_to_client', 'local');
    assert.equal(await sample(metrics, forwarded, '{direction="agent_to_client",splice="local"}'), undefined);
    up.bytes += 1000;
    up.frames += 2;
    const down = metrics.forwardTally('client_to_agent', 'remote');
    down.bytes += 0; // an empty frame still makes the series appear
    down.frames += 1;
    assert.equal(await sample(metrics, forwarded, '{direction="agent_to_client",splice="local"}'), 1000);
    assert.equal(await sample(metrics, 'kubepair_relay_forwarded_frames_total', '{direction="agent_to_client",splice="local"}'), 2);
    assert.equal(await sample(metrics, forwarded, '{direction="client_to_agent",splice="remote"}'), 0);
    assert.equal(await sample(metrics, 'kubepair_relay_forwarded_frames_total', '{direction="client_to_agent",splice="remote"}'), 1);
    up.bytes += 24;
    up.frames += 1;
    assert.equal(await sample(metrics, forwarded, '{direction="agent_to_client",splice="local"}'), 1024);
    assert.equal(await sample(metrics, forwarded, '{direction="agent_to_client",splice="local"}'), 1024, 'a second read adds nothing');
    assert.equal(await sample(metrics, 'kubepair_relay_forwarded_frames_total', '{direction="agent_to_client",splice="local"}'), 3);
    assert.equal(await sample(metrics, forwarded, '{direction="client_to_agent",splice="local"}'), undefined, 'no frame, no series');
  });

  it('bytes relayed over cluster links reach kubepair_relay_relayed_bytes_total per direction', async () => {
    const metrics = newMetrics();
    const relayed = metrics.relayTally('client_to_agent');
    relayed.bytes += 4096;
    relayed.frames += 1;
    assert.equal(await sample(metrics, 'kubepair_relay_relayed_bytes_total', '{direction="client_to_agent"}'), 4096);
    assert.equal(await sample(metrics, 'kubepair_relay_relayed_bytes_total', '{direction="agent_to_client"}'), undefined);
    relayed.bytes += 4;
    relayed.frames += 1;
    assert.equal(await sample(metrics, 'kubepair_relay_relayed_bytes_total', '{direction="client_to_agent"}'), 4100);
  });
});
