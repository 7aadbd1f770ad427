/**
 * Resumption under a storm (docs/design.md §8.1): 200 seeded rounds, each pairing two channels and
 * streaming random MUX bytes and CONTROL messages both ways while the carrier is cut at random
 * points — closed or black-holed, the client's, the agent's or both (a relay restart), with
 * the relay holding or dropping what it read meanwhile, with small key-update intervals so
 * KEY_UPDATEs fall inside outages, and small retransmit bounds so writers hit backpressure.
 * The invariant, checked after every round: each side received exactly the bytes and
 * controls the other sent, in order, no duplicates, and both retransmit queues end empty.
 * A failing round names its seed; `STORM_SEED=n` replays it alone.
 *
 * The hostile storm adds a relay that, between the cuts, drops, duplicates, reorders,
 * reflects, corrupts and replays frames (old generations' RESUMEs and records included). Its
 * differential invariant needs no list of attacks: what each side received is always a prefix
 * of what the other sent, and whenever it is not all of it, a side ended with a coded
 * KP_ERR_ error (never silent loss or duplication). `HOSTILE_SEED=n` replays one round.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import type { SecureChannel, SecureChannelOptions } from '../../../src/channel/index.js';
import type { TamperAction } from '../../helpers/relay-in-the-middle.js';
import { isKubepairError } from '../../../src/errors/index.js';
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

// --- the hostile storm ---------------------------------------------------------------------

const HOSTILE_ROUNDS = 80;

/** Send a plan in order; stops quietly once the channel has closed (the relay made it abort). */
async function produceUntilClosed(channel: SecureChannel, p: Plan, random: () => number): Promise<void> {
  let control = 0;
  for (let i = 0; i <= p.chunks.length; i++) {
    while (control < p.controls.length && p.controls[control]!.before === i) {
      if (channel.isClosed) return;
      channel.sendControl({ type: 'probe', n: p.controls[control]!.n });
      control += 1;
    }
    if (i === p.chunks.length || channel.isClosed) return;
    if (!channel.mux.write(p.chunks[i]!)) {
      await within(Promise.race([once(channel.mux, 'drain'), channel.closed]), 20_000, 'drain or close');
    }
    if (random() < 0.3) await turns(1);
  }
}

/** What a hostile relay does to one frame, now and then: every move it has, at random. */
function hostileTamper(relay: SplicingRelay, random: () => number, rate: number): (direction: 'a2c' | 'c2a') => TamperAction {
  return (direction) => {
    if (random() >= rate) return { kind: 'forward' };
    const pick = random();
    if (pick < 0.2) return { kind: 'drop' };
    if (pick < 0.35) return { kind: 'duplicate' };
    if (pick < 0.5) return { kind: 'hold' };
    if (pick < 0.6) return { kind: 'reflect' };
    const seen = relay.seen[direction];
    const current = seen.at(-1)!.frame;
    if (pick < 0.75) {
      const flipped = Uint8Array.from(current);
      flipped[Math.floor(random() * flipped.length)]! ^= 1 << Math.floor(random() * 8);
      return { kind: 'replace', frame: flipped };
    }
    // A replay: any earlier frame of this direction, from this socket or an older one.
    return { kind: 'replace', frame: seen[Math.floor(random() * seen.length)]!.frame };
  };
}

type Outcome = 'complete' | 'aborted';

async function hostileRound(seed: number): Promise<Outcome> {
  const random = seededRandom(seed * 7919);
  const options: SecureChannelOptions = {
    ...(random() < 0.5 && { records: { keyUpdateLimit: 3 + Math.floor(random() * 40) } }),
    ...(random() < 0.5 && { retransmitMaxBytes: 16 * 1024 + Math.floor(random() * 256 * 1024) }),
    ...(random() < 0.5 && { acks: { everyRecords: 1 + Math.floor(random() * 16), delayMs: 1 + Math.floor(random() * 10) } }),
  };
  const relay = new SplicingRelay({ highWaterMark: 16 * 1024 + Math.floor(random() * 128 * 1024) });
  const pair = await pairResumable(options, { relay });
  const { agent, client } = pair;
  const channels = { agent, client };
  const errors: Partial<Record<Role, Error | undefined>> = {};
  for (const role of ['agent', 'client'] as const) {
    // Writes racing the abort fail on the stream; the channel's `closed` carries the reason.
    channels[role].mux.on('error', () => undefined);
    void channels[role].closed.then((error) => (errors[role] = error));
  }
  const resumeTimeoutMs = 400;
  const resumeBoth = async (): Promise<void> => {
    const roles = (['agent', 'client'] as const).filter((role) => !channels[role].isClosed);
    for (const role of roles) if (channels[role].state === 'live') channels[role].suspend();
    const attempts = roles.map((role) => channels[role].resume(relay.connect(role), { timeoutMs: resumeTimeoutMs }));
    await within(Promise.allSettled(attempts), 5000, `seed ${seed}: resume attempts settle`);
  };
  try {
    const atAgent = new Sink(agent);
    const atClient = new Sink(client);
    const down = plan(random, 128 * 1024);
    const up = plan(random, 64 * 1024);
    relay.tamper = hostileTamper(relay, random, 0.002 + random() * 0.02);
    const disruption = (async () => {
      const cuts = 1 + Math.floor(random() * 3);
      for (let cut = 0; cut < cuts && !agent.isClosed && !client.isClosed; cut++) {
        await turns(Math.floor(random() * 12));
        relay.holdWhileAway = random() < 0.5;
        await resumeBoth();
      }
    })();
    const closed = Promise.race([agent.closed, client.closed]);
    await within(
      Promise.race([closed, Promise.all([produceUntilClosed(agent, down, random), produceUntilClosed(client, up, random), disruption])]),
      30_000,
      `seed ${seed}: streams and cuts`,
    );
    await within(disruption, 10_000, `seed ${seed}: disruption ends`);
    // The relay turns honest; one more carrier for each side lets everything still owed arrive.
    relay.tamper = () => ({ kind: 'forward' });
    for (let attempt = 0; attempt < 3 && !agent.isClosed && !client.isClosed && (agent.state !== 'live' || client.state !== 'live' || attempt === 0); attempt++) {
      await resumeBoth();
    }
    const downBytes = Buffer.concat(down.chunks);
    const upBytes = Buffer.concat(up.chunks);
    const complete = (): boolean =>
      atClient.length === downBytes.length &&
      atAgent.length === upBytes.length &&
      atClient.controls.length === down.controls.length &&
      atAgent.controls.length === up.controls.length &&
      agent.stats.retainedRecords === 0 &&
      client.stats.retainedRecords === 0;
    await waitUntil(() => complete() || agent.isClosed || client.isClosed, 10_000, `seed ${seed}: everything delivered, or an abort`);
    await turns(5);

    // Never silent loss, duplication or reordering: each side holds a prefix of what was sent.
    assert.ok(atClient.bytes.equals(downBytes.subarray(0, atClient.length)), `seed ${seed}: agent → client bytes are a prefix`);
    assert.ok(atAgent.bytes.equals(upBytes.subarray(0, atAgent.length)), `seed ${seed}: client → agent bytes are a prefix`);
    assert.deepEqual(atClient.controls.map((m) => m['n']), down.controls.slice(0, atClient.controls.length).map((c) => c.n), `seed ${seed}: agent → client controls are a prefix`);
    assert.deepEqual(atAgent.controls.map((m) => m['n']), up.controls.slice(0, atAgent.controls.length).map((c) => c.n), `seed ${seed}: client → agent controls are a prefix`);
    if (!agent.isClosed && !client.isClosed) {
      assert.ok(complete(), `seed ${seed}: with both sides up, everything arrived`);
      return 'complete';
    }
    // Whoever ended, ended with a coded error (the other side may still be waiting for a carrier).
    for (const role of ['agent', 'client'] as const) {
      if (!channels[role].isClosed) continue;
      const error = errors[role];
      assert.ok(isKubepairError(error) && /^KP_ERR_[A-Z_]+$/.test(error.code), `seed ${seed}: the ${role} ended with a coded error (${String(error)})`);
    }
    return 'aborted';
  } finally {
    agent.close();
    client.close();
  }
}

describe('Security: resumption storm with a hostile relay', () => {
  it(
    `${HOSTILE_ROUNDS} rounds of cuts plus drops, duplicates, reorders, reflections, flipped bits and replays: a prefix, or a coded abort`,
    { timeout: 300_000 },
    async (t) => {
      const only = process.env['HOSTILE_SEED'];
      const seeds = only === undefined ? Array.from({ length: HOSTILE_ROUNDS }, (_, i) => i + 1) : [Number(only)];
      const outcomes: Record<Outcome, number> = { complete: 0, aborted: 0 };
      for (const seed of seeds) outcomes[await hostileRound(seed)] += 1;
      t.diagnostic(`outcomes: ${JSON.stringify(outcomes)}`);
      if (only === undefined) {
        // Both outcomes occur, or the test proved nothing about one of them.
        assert.ok(outcomes.complete > 0, `some rounds complete (${JSON.stringify(outcomes)})`);
        assert.ok(outcomes.aborted > 0, `some rounds abort (${JSON.stringify(outcomes)})`);
      }
    },
  );
});
