/**
 * A malicious relay for tests: two in-memory transport pairs joined by a forwarder that a test
 * can program to drop, replace, duplicate, hold back (reorder), reflect or inject frames, as
 * docs/design.md §2 allows the real relay to do. It records every frame it forwards.
 */
import { MemoryTransport } from '../../src/channel/memory-transport.js';

export type Direction = 'a2c' | 'c2a';

export type TamperAction =
  | { readonly kind: 'forward' }
  | { readonly kind: 'drop' }
  | { readonly kind: 'replace'; readonly frame: Uint8Array }
  | { readonly kind: 'duplicate' }
  | { readonly kind: 'hold' }
  | { readonly kind: 'reflect' };

/** Decides what happens to one frame; `index` counts frames per direction from 0. */
export type Tamper = (direction: Direction, index: number, frame: Uint8Array) => TamperAction;

export class RelayInTheMiddle {
  /** Give this transport to the agent. */
  readonly agent: MemoryTransport;
  /** Give this transport to the client. */
  readonly client: MemoryTransport;
  /** Frames seen per direction, in arrival order. */
  readonly seen: Record<Direction, Uint8Array[]> = { a2c: [], c2a: [] };
  /** The current policy; replace it at any time (for example once the handshake is done). */
  tamper: Tamper = () => ({ kind: 'forward' });

  readonly #agentSide: MemoryTransport;
  readonly #clientSide: MemoryTransport;
  readonly #held: Record<Direction, Uint8Array[]> = { a2c: [], c2a: [] };

  constructor() {
    const [agent, agentSide] = MemoryTransport.pair();
    const [clientSide, client] = MemoryTransport.pair();
    this.agent = agent;
    this.client = client;
    this.#agentSide = agentSide;
    this.#clientSide = clientSide;
    agentSide.on('message', (frame) => this.#onFrame('a2c', frame));
    clientSide.on('message', (frame) => this.#onFrame('c2a', frame));
    agentSide.on('close', (info) => clientSide.close(info.code, info.reason));
    clientSide.on('close', (info) => agentSide.close(info.code, info.reason));
    // Backpressure like the real relay: stop reading a side while the other side is full.
    clientSide.on('drain', () => agentSide.resume());
    agentSide.on('drain', () => clientSide.resume());
  }

  /** Send a forged or replayed frame in one direction. */
  inject(direction: Direction, frame: Uint8Array): void {
    this.#send(direction, frame);
  }

  #target(direction: Direction): MemoryTransport {
    return direction === 'a2c' ? this.#clientSide : this.#agentSide;
  }

  #source(direction: Direction): MemoryTransport {
    return direction === 'a2c' ? this.#agentSide : this.#clientSide;
  }

  #send(direction: Direction, frame: Uint8Array): void {
    if (!this.#target(direction).send(frame)) this.#source(direction).pause();
  }

  #onFrame(direction: Direction, frame: Uint8Array): void {
    const index = this.seen[direction].length;
    this.seen[direction].push(frame);
    const action = this.tamper(direction, index, frame);
    switch (action.kind) {
      case 'forward':
        this.#send(direction, frame);
        break;
      case 'drop':
        return;
      case 'replace':
        this.#send(direction, action.frame);
        break;
      case 'duplicate':
        this.#send(direction, frame);
        this.#send(direction, frame);
        break;
      case 'hold':
        this.#held[direction].push(frame);
        return;
      case 'reflect':
        this.#send(direction === 'a2c' ? 'c2a' : 'a2c', frame);
        return;
    }
    // Frames held back are released after the next forwarded one: a reordering.
    for (const held of this.#held[direction].splice(0)) this.#send(direction, held);
  }
}
