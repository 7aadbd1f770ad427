/**
 * AckSchedule: when a receiver acknowledges (docs/design.md §8.1, docs/protocol.md §7.1). MUX,
 * CONTROL and KEY_UPDATE records elicit an ACK; ACK records never do, so two idle endpoints
 * never trade ACKs for ever. An ACK is due after `everyRecords` eliciting records or
 * `everyBytes` of their frames since the last one, whichever comes first, and otherwise
 * `delayMs` after the first record it has not covered (an idle link). The defaults keep the
 * sender's retained bytes far below CHANNEL_RETRANSMIT_MAX_BYTES on a healthy link, so that
 * bound never becomes the bottleneck. No I/O: the owner seals and sends the ACK.
 */
import { KubepairError } from '../errors/index.js';
import { CHANNEL_ACK_DELAY_MS, CHANNEL_ACK_EVERY_BYTES, CHANNEL_ACK_EVERY_RECORDS } from '../limits.js';

export interface AcknowledgementOptions {
  /** ACK after at most this many eliciting records (default 64). */
  readonly everyRecords?: number;
  /** ... or this many bytes of eliciting frames (default 1 MiB). */
  readonly everyBytes?: number;
  /** ... or this long after the first record not yet acknowledged (default 20 ms). */
  readonly delayMs?: number;
}

function positive(value: number | undefined, fallback: number, name: string): number {
  const resolved = value ?? fallback;
  if (!Number.isSafeInteger(resolved) || resolved < 1) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `acknowledgement ${name} must be a positive integer, got ${resolved}`);
  }
  return resolved;
}

export class AckSchedule {
  readonly #everyRecords: number;
  readonly #everyBytes: number;
  readonly #delayMs: number;
  readonly #onDue: () => void;
  #records = 0;
  #bytes = 0;
  #deferred = false;
  #timer: NodeJS.Timeout | undefined;

  /** `onDue` runs when the idle delay expires; threshold crossings are reported by `note`. */
  constructor(options: AcknowledgementOptions, onDue: () => void) {
    this.#everyRecords = positive(options.everyRecords, CHANNEL_ACK_EVERY_RECORDS, 'everyRecords');
    this.#everyBytes = positive(options.everyBytes, CHANNEL_ACK_EVERY_BYTES, 'everyBytes');
    this.#delayMs = positive(options.delayMs, CHANNEL_ACK_DELAY_MS, 'delayMs');
    this.#onDue = onDue;
  }

  /** An eliciting record of `frameBytes` arrived; true when an ACK is due now. */
  note(frameBytes: number): boolean {
    this.#records += 1;
    this.#bytes += frameBytes;
    if (this.#records >= this.#everyRecords || this.#bytes >= this.#everyBytes) return true;
    if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#onDue();
      }, this.#delayMs);
      // An ACK that is only due never keeps the process alive.
      this.#timer.unref();
    }
    return false;
  }

  /** An ACK was due but could not go out yet (suspended, or records wait): it stays due. */
  defer(): void {
    this.#deferred = true;
  }

  /** True when a deferred ACK should go out at the next chance. */
  get deferred(): boolean {
    return this.#deferred;
  }

  /** Everything received so far was acknowledged (by an ACK, or by a RESUME's count). */
  acknowledged(): void {
    this.#records = 0;
    this.#bytes = 0;
    this.#deferred = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  dispose(): void {
    this.acknowledged();
  }
}
