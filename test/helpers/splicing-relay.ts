/**
 * A relay for resumption tests (docs/design.md §8.1): it splices the agent's current socket to the
 * client's, over in-memory transports, and lets a test replace either side's socket (a new
 * carrier generation), cut it (close) or black-hole it (stop forwarding without closing), and
 * tamper with frames as a malicious relay would (drop, replace, duplicate, hold back, reflect,
 * inject). Frames for a role with no socket wait for its next one, as the real relay's
 * suspended session holds what it has read; `holdWhileAway = false` drops them instead.
 */
import { MemoryTransport } from '../../src/channel/memory-transport.js';
import type { Direction, TamperAction } from './relay-in-the-middle.js';

export type Role = 'agent' | 'client';

/** Decides what happens to one frame; `index` counts frames per direction over all sockets. */
export type SpliceTamper = (direction: Direction, index: number, frame: Uint8Array) => TamperAction;

/** One frame the relay read, with the socket generation it came from. */
export interface SeenFrame {
  readonly frame: Uint8Array;
  /** 1 for a role's first socket, 2 for its second, ... */
  readonly socket: number;
}

interface Socket {
  readonly endpoint: MemoryTransport;
  readonly relaySide: MemoryTransport;
  readonly number: number;
  blackholed: boolean;
}

const FROM: Record<Direction, Role> = { a2c: 'agent', c2a: 'client' };
const TO: Record<Direction, Role> = { a2c: 'client', c2a: 'agent' };
const DIRECTION_FROM: Record<Role, Direction> = { agent: 'a2c', client: 'c2a' };

export class SplicingRelay {
  /** Frames read per direction, in arrival order, from every socket. */
  readonly seen: Record<Direction, SeenFrame[]> = { a2c: [], c2a: [] };
  tamper: SpliceTamper = () => ({ kind: 'forward' });
  /** Keep frames for a role that has no socket until it reconnects (default), or drop them. */
  holdWhileAway = true;

  readonly #highWaterMark: number;
  readonly #sockets: Record<Role, Socket | undefined> = { agent: undefined, client: undefined };
  readonly #connected: Record<Role, number> = { agent: 0, client: 0 };
  readonly #waiting: Record<Role, Uint8Array[]> = { agent: [], client: [] };
  readonly #heldBack: Record<Direction, Uint8Array[]> = { a2c: [], c2a: [] };

  constructor(options: { highWaterMark?: number } = {}) {
    this.#highWaterMark = options.highWaterMark ?? 1024 * 1024;
  }

  /** A new socket for `role` (the endpoint's side); it replaces the role's current one. */
  connect(role: Role): MemoryTransport {
    const old = this.#sockets[role];
    if (old !== undefined) old.relaySide.close(4000, 'replaced by a newer socket');
    const [endpoint, relaySide] = MemoryTransport.pair({ highWaterMark: this.#highWaterMark });
    const socket: Socket = { endpoint, relaySide, number: ++this.#connected[role], blackholed: false };
    this.#sockets[role] = socket;
    relaySide.on('message', (frame) => this.#onFrame(DIRECTION_FROM[role], socket, frame));
    relaySide.on('close', () => {
      if (this.#sockets[role] === socket) this.#sockets[role] = undefined;
    });
    // Backpressure as the real relay: stop reading the other side while this one is full.
    relaySide.on('drain', () => this.#other(role)?.relaySide.resume());
    for (const frame of this.#waiting[role].splice(0)) this.#deliver(role, frame);
    // The other side may have been paused for the socket this one replaces.
    this.#other(role)?.relaySide.resume();
    return endpoint;
  }

  /** The number of sockets `role` has had. */
  sockets(role: Role): number {
    return this.#connected[role];
  }

  /** Close `role`'s socket from the relay's side (frames it still had in flight are lost). */
  cut(role: Role): void {
    const socket = this.#sockets[role];
    this.#sockets[role] = undefined;
    socket?.relaySide.close(4000, 'cut');
    this.#other(role)?.relaySide.resume();
  }

  /** Stop forwarding to and from `role`'s socket without closing it (a dead NAT mapping). */
  blackhole(role: Role): void {
    const socket = this.#sockets[role];
    if (socket === undefined) return;
    socket.blackholed = true;
    this.#sockets[role] = undefined;
    this.#other(role)?.relaySide.resume();
  }

  /** Send a forged or replayed frame to `direction`'s receiver now. */
  inject(direction: Direction, frame: Uint8Array): void {
    this.#deliver(TO[direction], frame);
  }

  #onFrame(direction: Direction, socket: Socket, frame: Uint8Array): void {
    if (socket.blackholed) return;
    const index = this.seen[direction].length;
    this.seen[direction].push({ frame, socket: socket.number });
    const action = this.tamper(direction, index, frame);
    const target = TO[direction];
    switch (action.kind) {
      case 'forward':
        this.#deliver(target, frame);
        break;
      case 'drop':
        return;
      case 'replace':
        this.#deliver(target, action.frame);
        break;
      case 'duplicate':
        this.#deliver(target, frame);
        this.#deliver(target, frame);
        break;
      case 'hold':
        this.#heldBack[direction].push(frame);
        return;
      case 'reflect':
        this.#deliver(FROM[direction], frame);
        return;
    }
    // Frames held back are released after the next forwarded one: a reordering.
    for (const held of this.#heldBack[direction].splice(0)) this.#deliver(target, held);
  }

  #deliver(role: Role, frame: Uint8Array): void {
    const socket = this.#sockets[role];
    if (socket === undefined) {
      if (this.holdWhileAway) this.#waiting[role].push(frame);
      return;
    }
    if (socket.relaySide.closed) return;
    if (!socket.relaySide.send(frame)) this.#other(role)?.relaySide.pause();
  }

  #other(role: Role): Socket | undefined {
    return this.#sockets[role === 'agent' ? 'client' : 'agent'];
  }
}
