/**
 * RetainedRecords: the sealed records one direction keeps until the peer acknowledges them
 * (docs/design.md §8.1, docs/protocol.md §7.2), as the exact frame bytes that went out, so that
 * after a resume they are retransmitted unchanged (same sequence numbers, same ciphertext: no nonce
 * is ever used for two plaintexts, because nothing is sealed twice).
 *
 * Records are numbered from 0 for the session (across key updates). The queue holds the
 * contiguous run [first, end) of the records sealed so far, end being the sealer's count; the
 * ones in [first, sentEnd) have been handed to the current carrier, the rest wait for it (the
 * transport was full, or the channel is suspended). What is dropped, and why that is safe:
 * - every record below the peer's acknowledged count (it has them);
 * - ACK records in front of the first unacknowledged data record, once sent: the records in
 *   [acknowledged, first) are then ACKs only, so a resuming peer may skip them (their content
 *   is superseded by any later ACK) — without this rule the last record of a quiet
 *   conversation, always an ACK, could never leave the queue.
 * The owner bounds the bytes (CHANNEL_RETRANSMIT_MAX_BYTES) by refusing writes, not here.
 * A frame may be held in pieces (a sealed record's ciphertext parts and tag, as the sealer made
 * them): the transport joins them when it frames them, so they are never copied into one buffer.
 */
import { outgoingFrameLength } from './transport.js';
import type { OutgoingFrame } from './transport.js';

interface Entry {
  readonly frame: OutgoingFrame;
  /** The frame's length in bytes. */
  readonly bytes: number;
  /** An ACK record (droppable in front of the first data record), not MUX, CONTROL or KEY_UPDATE. */
  readonly ack: boolean;
}

/** Drop consumed slots from the front of the array once there are this many. */
const COMPACT_AFTER = 1024;

export class RetainedRecords {
  /** Slots below #head are consumed (undefined, released for the garbage collector). */
  #entries: Array<Entry | undefined> = [];
  /** Index in #entries of the record numbered #first. */
  #head = 0;
  #first = 0;
  #sentEnd = 0;
  #bytes = 0;

  /** The number of the first record still held (= `end` when none is). */
  get first(): number {
    return this.#first;
  }

  /** One past the last record sealed: the sealer's count. */
  get end(): number {
    return this.#first + this.#entries.length - this.#head;
  }

  /** Records numbered below this have been handed to the current carrier (or dropped). */
  get sentEnd(): number {
    return this.#sentEnd;
  }

  /** Records held. */
  get length(): number {
    return this.#entries.length - this.#head;
  }

  /** Bytes of the frames held. */
  get bytes(): number {
    return this.#bytes;
  }

  /** True when some held record has not been handed to the current carrier yet. */
  get hasUnsent(): boolean {
    return this.#sentEnd < this.end;
  }

  /** Add a record just sealed (not yet sent). */
  append(frame: OutgoingFrame, ack: boolean): void {
    const bytes = outgoingFrameLength(frame);
    this.#entries.push({ frame, bytes, ack });
    this.#bytes += bytes;
  }

  /**
   * An ACK record was sealed and sent at once (only done when nothing waits). With no data
   * record in the queue it is not kept: it becomes the start of the ACK-only run below `first`.
   */
  sentAck(frame: OutgoingFrame): void {
    if (this.hasUnsent) throw new Error('an ACK was sent past records still waiting');
    if (this.length === 0) {
      this.#first += 1;
    } else {
      this.append(frame, true);
    }
    this.#sentEnd = this.end;
  }

  /** The next record to hand to the carrier, marked as handed; undefined when none waits. */
  takeUnsent(): OutgoingFrame | undefined {
    if (!this.hasUnsent) return undefined;
    const frame = this.#entries[this.#head + (this.#sentEnd - this.#first)]!.frame;
    this.#sentEnd += 1;
    // A retransmitted ACK that now leads the queue is sent again: drop it like any sent ACK in
    // front, or the last record of a quiet conversation after a resume (an ACK, which elicits
    // no ACK) would stay in the queue for ever.
    this.#dropLeadingSentAcks();
    return frame;
  }

  /**
   * The peer has received the records below `count` (its ACK). The caller has checked
   * `count <= sentEnd`. Drops them, then the sent ACK records that now lead the queue.
   */
  acknowledge(count: number): void {
    this.#dropBelow(count);
    this.#dropLeadingSentAcks();
  }

  /**
   * A new carrier, on which the peer proved it received the records below `count`: drop those,
   * and hand every remaining record to the new carrier again, from max(count, first) on — the
   * exact point the peer computes from the `first` this side announced in its RESUME.
   */
  resumeFrom(count: number): void {
    this.#dropBelow(count);
    this.#sentEnd = this.#first;
    this.#compact();
  }

  /** Forget everything (the channel closed). */
  clear(): void {
    this.#first = this.end;
    this.#sentEnd = this.#first;
    this.#entries = [];
    this.#head = 0;
    this.#bytes = 0;
  }

  #dropBelow(count: number): void {
    // The caller has checked count <= sentEnd <= end, so this stops at first = count at the latest.
    while (this.#first < count && this.length > 0) this.#shift();
    if (this.#sentEnd < this.#first) this.#sentEnd = this.#first;
  }

  /** Drop the sent ACK records that lead the queue (the ACK-only run below `first`). */
  #dropLeadingSentAcks(): void {
    while (this.#first < this.#sentEnd && this.#entries[this.#head]!.ack) this.#shift();
    this.#compact();
  }

  #shift(): void {
    const entry = this.#entries[this.#head]!;
    this.#bytes -= entry.bytes;
    this.#entries[this.#head] = undefined;
    this.#head += 1;
    this.#first += 1;
  }

  #compact(): void {
    if (this.#head === this.#entries.length) {
      this.#entries = [];
      this.#head = 0;
    } else if (this.#head >= COMPACT_AFTER && this.#head * 2 >= this.#entries.length) {
      this.#entries = this.#entries.slice(this.#head);
      this.#head = 0;
    }
  }
}
