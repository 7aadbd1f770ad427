/**
 * SessionLink: what one relay node holds for one session while it has sockets (docs/design.md §3):
 * the agent's and the client's connection, the two forwarding directions between them, whether
 * the session is established or ending, its resume window (docs/design.md §8.1), and its place
 * in the broker's queue of `expiring` notices. A suspended session whose sockets are all gone has
 * no link; the store keeps it, and the next socket builds a new link. Plain state; the
 * SessionBroker makes every decision.
 */
import type { PeerRole } from '../protocol/relay-api.js';
import { NOT_QUEUED } from './deadline-queue.js';
import type { ForwardingDirection } from './forwarding.js';
import type { PeerConnection } from './peer-connection.js';

export class SessionLink {
  readonly id: string;
  agent: PeerConnection | undefined;
  client: PeerConnection | undefined;
  toClient: ForwardingDirection | undefined;
  toAgent: ForwardingDirection | undefined;
  established = false;
  ended = false;
  /** The resume window granted to the session (0: a dropped socket ends it). */
  resumeWindowMs = 0;
  expiresAt: number;
  /** Its place in the broker's queue of `expiring` notices (deadline-queue.ts). */
  deadlineSlot = NOT_QUEUED;

  constructor(id: string, expiresAt: number) {
    this.id = id;
    this.expiresAt = expiresAt;
  }

  peer(role: PeerRole): PeerConnection | undefined {
    return role === 'agent' ? this.agent : this.client;
  }

  other(role: PeerRole): PeerConnection | undefined {
    return role === 'agent' ? this.client : this.agent;
  }

  set(role: PeerRole, peer: PeerConnection | undefined): void {
    if (role === 'agent') this.agent = peer;
    else this.client = peer;
  }

  get empty(): boolean {
    return this.agent === undefined && this.client === undefined;
  }
}
