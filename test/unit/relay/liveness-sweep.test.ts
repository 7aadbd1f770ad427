/**
 * LivenessSweep (src/relay/liveness-sweep.ts): one timer pings every peer of a relay node and
 * finds the silent ones, with the semantics the timer per socket had (seeds/003 "deadlines"): a
 * ping every interval, a peer silent for the limit reported once, time the relay did not read a
 * peer (backpressure) never counted as silence. Time is node:test's mock clock, so every bound
 * below is exact and nothing depends on how busy the machine is; the one-timer claim is checked
 * with real timers, by counting the process's active timers.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it, mock } from 'node:test';
import { LivenessSweep, NOT_WATCHED } from '../../../src/relay/liveness-sweep.js';
import type { LivenessOptions, LivenessSubject } from '../../../src/relay/liveness-sweep.js';

/** 16 ticks of 100 ms per ping interval (RELAY_LIVENESS_SWEEP_SLOTS). */
const OPTIONS: LivenessOptions = { pingIntervalMs: 1_600, silenceMs: 4_000 };
const TICK_MS = 100;
const START = 1_000_000;

/** A peer as the sweep sees it: answers pings at once unless told not to; the relay may stop reading it. */
class FakePeer implements LivenessSubject {
  livenessDue = NOT_WATCHED;
  open = true;
  answers = true;
  /** The relay stopped reading it (PeerConnection.pauseReading). */
  paused = false;
  lastSeen = Date.now();
  readonly pings: number[] = [];
  silentAt: number | undefined;
  silentReports = 0;
  onPing: (() => void) | undefined;
  onSilent: (() => void) | undefined;

  ping(): void {
    this.pings.push(Date.now());
    if (this.answers) this.lastSeen = Date.now();
    this.onPing?.();
  }

  wentSilent(): void {
    this.silentReports++;
    this.silentAt ??= Date.now();
    this.onSilent?.();
  }

  /** PeerConnection.resumeReading: reading again counts as hearing from it. */
  resume(): void {
    this.paused = false;
    this.lastSeen = Date.now();
  }
}

/** Move the mock clock forward in steps of 10 ms (each step runs the timers and immediates due). */
function advance(ms: number): void {
  for (let moved = 0; moved < ms; moved += 10) mock.timers.tick(10);
}

describe('LivenessSweep (mock clock)', () => {
  beforeEach(() => {
    mock.timers.enable({ apis: ['setInterval', 'setImmediate', 'Date'], now: START });
  });
  afterEach(() => {
    mock.timers.reset();
  });

  it('pings a live peer once per ping interval, at most one tick late, and never reports it silent', () => {
    const sweep = new LivenessSweep(OPTIONS);
    assert.equal(sweep.tickMs, TICK_MS);
    const peer = new FakePeer();
    sweep.watch(peer);
    advance(10 * OPTIONS.pingIntervalMs + TICK_MS);
    assert.equal(peer.pings.length, 10, `pings at ${peer.pings.map((t) => t - START).join(', ')}`);
    let previous = START;
    for (const at of peer.pings) {
      assert.ok(at - previous >= OPTIONS.pingIntervalMs && at - previous <= OPTIONS.pingIntervalMs + TICK_MS, `a ping ${at - previous} ms after the previous one`);
      previous = at;
    }
    assert.equal(peer.silentReports, 0);
    sweep.unwatch(peer);
  });

  it('reports a peer that stops answering once, between the silence limit and one tick after it, and stops pinging it', () => {
    const sweep = new LivenessSweep(OPTIONS);
    const peer = new FakePeer();
    peer.answers = false;
    sweep.watch(peer);
    advance(OPTIONS.silenceMs + 3 * TICK_MS);
    assert.ok(peer.silentAt !== undefined, 'reported silent');
    const late = peer.silentAt - START - OPTIONS.silenceMs;
    assert.ok(late >= 0 && late <= TICK_MS, `reported ${late} ms after its silence limit`);
    assert.ok(peer.pings.length >= 2, 'pinged while it could still answer');
    const pings = peer.pings.length;
    advance(3 * OPTIONS.silenceMs);
    assert.equal(peer.silentReports, 1, 'reported once');
    assert.equal(peer.pings.length, pings, 'no ping after the report');
    assert.equal(sweep.watching, 0);
    assert.equal(peer.livenessDue, NOT_WATCHED);
  });

  it('a peer the relay stopped reading (backpressure) is never silent, and its silence counts from when reading resumed', () => {
    const sweep = new LivenessSweep(OPTIONS);
    const peer = new FakePeer();
    peer.answers = false; // its pongs cannot be read while paused, and it never answers after
    peer.paused = true;
    sweep.watch(peer);
    advance(5 * OPTIONS.silenceMs);
    assert.equal(peer.silentReports, 0, 'not silent while the relay does not read it');
    assert.ok(peer.pings.length >= 5 * Math.floor(OPTIONS.silenceMs / OPTIONS.pingIntervalMs), 'still pinged meanwhile');
    const resumedAt = Date.now();
    peer.resume();
    advance(OPTIONS.silenceMs + 3 * TICK_MS);
    assert.ok(peer.silentAt !== undefined, 'silent once read again and still not answering');
    const after = peer.silentAt - resumedAt - OPTIONS.silenceMs;
    assert.ok(after >= 0 && after <= TICK_MS, `reported ${after} ms after the silence limit counted from the resume`);
  });

  it('a peer unwatched during a sweep (its socket closed by another peer\'s check) is never checked again', () => {
    const sweep = new LivenessSweep(OPTIONS);
    const first = new FakePeer();
    const second = new FakePeer();
    first.onPing = () => {
      second.open = false;
      sweep.unwatch(second);
    };
    sweep.watch(first);
    sweep.watch(second); // same moment, same slot, checked after the first
    advance(OPTIONS.pingIntervalMs + TICK_MS);
    assert.equal(first.pings.length, 1);
    assert.equal(second.pings.length, 0, 'not pinged after it was unwatched mid-sweep');
    assert.equal(sweep.watching, 1);
    advance(3 * OPTIONS.silenceMs);
    assert.equal(second.pings.length + second.silentReports, 0);
    sweep.unwatch(first);
    assert.equal(sweep.watching, 0);
  });

  it('a silent peer closed while its silence is being decided is not reported', () => {
    const sweep = new LivenessSweep(OPTIONS);
    const first = new FakePeer();
    const second = new FakePeer();
    first.answers = false;
    second.answers = false;
    first.onSilent = () => {
      second.open = false;
      sweep.unwatch(second);
    };
    sweep.watch(first);
    sweep.watch(second);
    advance(OPTIONS.silenceMs + 3 * TICK_MS);
    assert.equal(first.silentReports, 1);
    assert.equal(second.silentReports, 0, 'unwatched before its turn in the decision');
    assert.equal(sweep.watching, 0);
  });

  it('a peer closing on its own is dropped by the sweep without a report', () => {
    const sweep = new LivenessSweep(OPTIONS);
    const peer = new FakePeer();
    sweep.watch(peer);
    peer.open = false; // closing: its close event will come
    advance(OPTIONS.pingIntervalMs + TICK_MS);
    assert.equal(peer.pings.length + peer.silentReports, 0);
    assert.equal(sweep.watching, 0);
    sweep.unwatch(peer); // the close event's unwatch is harmless
    assert.equal(sweep.watching, 0);
  });

  it('checks at most one batch of a crowded slot per event-loop turn, and every peer in the end', () => {
    const sweep = new LivenessSweep(OPTIONS, { batch: 10 });
    const peers = Array.from({ length: 25 }, () => new FakePeer());
    let pinged = 0;
    let inFirstTurn: number | undefined;
    for (const peer of peers) {
      peer.onPing = () => {
        // An immediate queued by the first ping runs before the sweep's own continuation.
        if (pinged++ === 0) setImmediate(() => (inFirstTurn = pinged));
      };
      sweep.watch(peer);
    }
    advance(OPTIONS.pingIntervalMs + TICK_MS);
    assert.equal(inFirstTurn, 10, 'one batch in the first turn');
    assert.equal(pinged, 25, 'the rest in the next turns');
    for (const peer of peers) sweep.unwatch(peer);
  });

  it('after an event-loop stall longer than the wheel, every peer is checked once and pinged again', () => {
    const sweep = new LivenessSweep(OPTIONS);
    const peer = new FakePeer();
    sweep.watch(peer);
    // The clock jumps past the whole wheel (18 ticks) but not past the silence limit: the event loop was stalled.
    mock.timers.setTime(Date.now() + 2 * OPTIONS.pingIntervalMs);
    mock.timers.tick(10);
    assert.equal(peer.pings.length, 1, 'one ping for the missed ticks');
    assert.equal(peer.silentReports, 0);
    advance(OPTIONS.pingIntervalMs + TICK_MS);
    assert.equal(peer.pings.length, 2);
    sweep.unwatch(peer);
  });
});

describe('LivenessSweep (real timers)', () => {
  const timers = (): number => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;

  it('many peers, one timer: watching 1,000 peers adds one timer to the process, and unwatching them all removes it', () => {
    const sweep = new LivenessSweep({ pingIntervalMs: 60_000, silenceMs: 180_000 });
    const before = timers();
    const peers = Array.from({ length: 1_000 }, () => new FakePeer());
    for (const peer of peers) sweep.watch(peer);
    assert.equal(sweep.watching, 1_000);
    assert.equal(timers(), before + 1, 'one timer for all peers');
    for (const peer of peers) sweep.unwatch(peer);
    assert.equal(sweep.watching, 0);
    assert.equal(timers(), before, 'no timer left once no peer is watched');
  });
});
