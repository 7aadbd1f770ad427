/**
 * LivenessSweep: the liveness of every peer of a relay node with one timer (seeds/003
 * "deadlines"; docs/design.md §3). Each peer is pinged every `pingIntervalMs` and reported silent
 * when nothing (no frame, no pong) arrived from it for `silenceMs`. Time during which the relay
 * itself stopped reading the peer (backpressure) counts as heard, since its pongs cannot arrive
 * then: that rule is applied here, once, for every kind of subject (`heardAt` below); subjects
 * only say when they last heard the peer and whether they are reading it. Before reporting a
 * peer silent, the sweep waits for the I/O of the current turn: if the relay's own event loop
 * was stalled, the pong may be waiting there.
 *
 * How (issue 15, docs/performance.md "Relay forwarding and memory"): a timing wheel. Time is cut
 * into ticks of `pingIntervalMs / RELAY_LIVENESS_SWEEP_SLOTS`; a peer waits in the slot of the
 * tick at which its next check is due, and one interval timer, running only while the node has
 * peers, checks the slots whose tick has come. A peer costs an entry in one slot and a number
 * (its `livenessDue`) instead of a timer object and its arguments, and the work of a tick is the
 * peers due in it, never all peers. Checks happen up to one tick late: a ping goes out between
 * `pingIntervalMs` and one tick after it, a silent peer is reported between `silenceMs` and one
 * tick after it. At most RELAY_LIVENESS_SWEEP_BATCH peers are checked in one turn; the rest of a
 * crowded slot (thousands of peers connected at the same moment) follow in the next turns. A
 * peer unwatched during a sweep (its socket closed, perhaps because of another peer's check) is
 * taken out of its slot at once and never checked again. After an event-loop stall the missed
 * ticks are caught up, each slot at most once.
 *
 * Input: the peers' timing, which is untrusted; a peer can only delay its own drop by talking.
 */
import { RELAY_LIVENESS_SWEEP_BATCH, RELAY_LIVENESS_SWEEP_SLOTS } from '../limits.js';

/** Liveness settings of a node (--ping-interval, --peer-timeout). */
export interface LivenessOptions {
  readonly pingIntervalMs: number;
  readonly silenceMs: number;
}

/** What the sweep needs of a peer. */
export interface LivenessSubject {
  /**
   * When the sweep checks this peer next (epoch ms), or one of the markers below. Written only by
   * the LivenessSweep that watches it; starts as NOT_WATCHED.
   */
  livenessDue: number;
  readonly open: boolean;
  /**
   * When the peer was last heard from (epoch ms): its last frame, ping or pong. The sweep moves it
   * to the time of a check while `paused` (see heardAt).
   */
  lastSeen: number;
  /** The relay deliberately does not read the peer now (backpressure): its pongs cannot arrive. */
  readonly paused: boolean;
  ping(): void;
  /** Nothing arrived from the peer for the silence limit (the sweep no longer watches it). */
  wentSilent(): void;
}

/** `livenessDue` of a peer no sweep watches. */
export const NOT_WATCHED = -1;
/** `livenessDue` of a peer found silent, decided after the current turn's I/O. */
const DECIDING = -2;

/**
 * When `subject` was last heard from, as of `now`: a peer the relay is not reading counts as heard
 * `now` (the one place of that rule), so its silence counts from when reading resumed at the latest.
 */
function heardAt(subject: LivenessSubject, now: number): number {
  if (subject.paused) subject.lastSeen = now;
  return subject.lastSeen;
}

export interface LivenessSweepTuning {
  /** Ticks per ping interval (default RELAY_LIVENESS_SWEEP_SLOTS). */
  readonly slotsPerInterval?: number;
  /** Peers checked per turn (default RELAY_LIVENESS_SWEEP_BATCH). */
  readonly batch?: number;
}

export class LivenessSweep {
  readonly #options: LivenessOptions;
  readonly #tickMs: number;
  readonly #batch: number;
  /** Slot `tick % length` holds the peers due at `tick`; a check is never scheduled further ahead than the wheel is long. */
  readonly #slots: Array<Set<LivenessSubject>>;
  #watched = 0;
  #timer: NodeJS.Timeout | undefined;
  /** The last tick whose slot was swept, and the tick the sweep is to reach. */
  #swept = 0;
  #target = 0;
  /** A crowded sweep continues in the next turn (setImmediate). */
  #continuing = false;

  constructor(options: LivenessOptions, tuning: LivenessSweepTuning = {}) {
    this.#options = options;
    const slots = tuning.slotsPerInterval ?? RELAY_LIVENESS_SWEEP_SLOTS;
    this.#tickMs = Math.max(1, Math.floor(options.pingIntervalMs / slots));
    this.#batch = Math.max(1, tuning.batch ?? RELAY_LIVENESS_SWEEP_BATCH);
    // The furthest check is one ping interval ahead; two more slots cover the rounding up.
    const length = Math.ceil(options.pingIntervalMs / this.#tickMs) + 2;
    this.#slots = Array.from({ length }, () => new Set<LivenessSubject>());
  }

  /** Peers watched now. */
  get watching(): number {
    return this.#watched;
  }

  /** Length of a tick, in ms: how late a ping or a silence check may be. */
  get tickMs(): number {
    return this.#tickMs;
  }

  /** Watch `subject` from now on: its first ping is due one ping interval from now. */
  watch(subject: LivenessSubject): void {
    if (subject.livenessDue !== NOT_WATCHED) return;
    this.#watched++;
    if (this.#timer === undefined) {
      this.#swept = this.#target = Math.floor(Date.now() / this.#tickMs);
      this.#timer = setInterval(this.#onTick, this.#tickMs);
    }
    this.#place(subject, Date.now() + this.#options.pingIntervalMs);
  }

  /** Stop watching `subject` (its socket closed); safe at any time, also during a sweep. */
  unwatch(subject: LivenessSubject): void {
    const due = subject.livenessDue;
    if (due === NOT_WATCHED) return;
    if (due !== DECIDING) this.#slotOf(due).delete(subject);
    this.#forget(subject);
  }

  /** The tick at which a check due at `time` runs: the first tick at or after it. */
  #tickOf(time: number): number {
    return Math.ceil(time / this.#tickMs);
  }

  #slotOf(due: number): Set<LivenessSubject> {
    return this.#slots[this.#tickOf(due) % this.#slots.length]!;
  }

  #place(subject: LivenessSubject, due: number): void {
    subject.livenessDue = due;
    this.#slotOf(due).add(subject);
  }

  /** `subject` is in no slot: watched no more. */
  #forget(subject: LivenessSubject): void {
    subject.livenessDue = NOT_WATCHED;
    this.#watched--;
    if (this.#watched === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  readonly #onTick = (): void => {
    // A check due at time t sits in slot ceil(t / tick) and is run once floor(now / tick) reaches it.
    this.#target = Math.floor(Date.now() / this.#tickMs);
    if (!this.#continuing) this.#sweep();
  };

  readonly #continue = (): void => {
    this.#continuing = false;
    this.#sweep();
  };

  /** Check the peers due in the slots from the last swept tick to the target, at most one batch. */
  #sweep(): void {
    const now = Date.now();
    const suspects: LivenessSubject[] = [];
    let budget = this.#batch;
    // After a stall longer than the wheel, each slot once is enough: every peer waits in one.
    if (this.#target - this.#swept > this.#slots.length) this.#swept = this.#target - this.#slots.length;
    sweeping: while (this.#swept < this.#target) {
      const slot = this.#slots[(this.#swept + 1) % this.#slots.length]!;
      for (const subject of slot) {
        if (subject.livenessDue > now) continue; // due a full turn of the wheel later
        if (budget === 0) {
          this.#continuing = true;
          setImmediate(this.#continue);
          break sweeping;
        }
        budget--;
        slot.delete(subject);
        this.#check(subject, now, suspects);
      }
      this.#swept++;
    }
    if (suspects.length > 0) setImmediate(this.#decide, suspects);
  }

  /** Ping `subject`, or take it aside as a suspect when it has been silent for the limit. */
  #check(subject: LivenessSubject, now: number, suspects: LivenessSubject[]): void {
    if (!subject.open) {
      this.#forget(subject); // closing: its close ends the rest
      return;
    }
    const { pingIntervalMs, silenceMs } = this.#options;
    const silentFor = now - heardAt(subject, now);
    if (silentFor >= silenceMs) {
      subject.livenessDue = DECIDING;
      suspects.push(subject);
      return;
    }
    subject.ping();
    this.#place(subject, now + Math.min(pingIntervalMs, silenceMs - silentFor));
  }

  /** After the turn's I/O: a suspect heard from meanwhile is watched again, the others are silent. */
  readonly #decide = (suspects: readonly LivenessSubject[]): void => {
    const now = Date.now();
    for (const subject of suspects) {
      if (subject.livenessDue !== DECIDING) continue; // unwatched meanwhile
      if (subject.open && now - heardAt(subject, now) < this.#options.silenceMs) {
        this.#place(subject, now + this.#options.pingIntervalMs);
        continue;
      }
      this.#forget(subject);
      if (subject.open) subject.wentSilent();
    }
  };
}
