/**
 * RelayFrameReads: reads of a relay WebSocket reached straight (plain TCP or TLS, no proxy
 * tunnel) into large slabs, handed on at WebSocket frame boundaries (RFC 6455 §5.2), for the
 * endpoints' receive path (issue 15).
 *
 * Node reads a socket 64 KiB at a time and decrypts TLS 16 KiB at a time, so a 256 KiB record's
 * frame arrived in 5 (TCP) or 16 (TLS) pieces and `ws`'s receiver copied it into a fresh buffer
 * before emitting it (docs/performance.md). Here the socket reads (`onread`, which `net.connect`
 * and `tls.connect` both take; TLS decrypts into the buffer it is given) into a slab of
 * RELAY_CLIENT_READ_SLAB_BYTES, each read
 * continuing where the last one ended, and only complete frames are handed on, as one view of
 * the slab per read: `ws` then emits each frame as a view, with no copy. The bytes of a frame
 * not yet complete stay in the slab; when the slab has too little room left for them, they are
 * copied once to the start of a new slab (about one frame per slab, not every frame). Frame
 * headers are decoded by the shared protocol/websocket-frame-header.ts.
 *
 * No byte handed on is ever written again: reads only go past the end of what was read, and a
 * slab that runs out is left to the views handed on (the garbage collector frees it with the
 * last). So a frame may be kept (paused delivery, the handshake's inbox) as long as anyone likes.
 *
 * Before the WebSocket upgrade, the bytes are the relay's HTTP answer: they are held until the
 * end of its head (at most RELAY_CLIENT_READ_HEAD_MAX_BYTES) and handed on as one chunk, so the
 * HTTP client hands `ws` no bytes of a frame with the answer. An answer other than 101, a head
 * that does not end in time, or a frame longer than WS_MAX_MESSAGE_BYTES turns the alignment off:
 * bytes are then handed on as read, and `ws` and the HTTP client judge them as they always did.
 * Nothing here decides anything about the bytes: it only chooses where chunks are cut.
 * Input: everything the relay (untrusted) sends.
 */
import type { OnReadOpts } from 'node:net';
import {
  RELAY_CLIENT_READ_HEAD_MAX_BYTES,
  RELAY_CLIENT_READ_MIN_ROOM_BYTES,
  RELAY_CLIENT_READ_SLAB_BYTES,
  WS_MAX_MESSAGE_BYTES,
} from '../limits.js';
import { FrameHeader, FrameHeaderStatus, decodeFrameHeader } from '../protocol/websocket-frame-header.js';

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
const SWITCHING_PROTOCOLS = /^HTTP\/1\.1 101 /;

/** What the bytes at `#scan` are: the HTTP answer's head, WebSocket frames, or (alignment off) anything. */
type ReadState = 'head' | 'frames' | 'as-read';

export class RelayFrameReads {
  /** Pass as `onread` to `net.connect`. */
  readonly onread: OnReadOpts;
  readonly #slabBytes: number;
  readonly #minRoomBytes: number;
  #slab: Buffer;
  /** slab[#start, #end) was read and not handed on yet; frames in [#start, #scan) are complete. */
  #start = 0;
  #scan = 0;
  #end = 0;
  #state: ReadState = 'head';
  #deliver: ((chunk: Buffer) => void) | undefined;
  /** The last frame header decoded (protocol/websocket-frame-header.ts), reused for every frame. */
  readonly #header = new FrameHeader();

  constructor(slabBytes: number = RELAY_CLIENT_READ_SLAB_BYTES, minRoomBytes: number = RELAY_CLIENT_READ_MIN_ROOM_BYTES) {
    this.#slabBytes = slabBytes;
    this.#minRoomBytes = minRoomBytes;
    this.#slab = Buffer.allocUnsafe(slabBytes);
    this.onread = {
      buffer: () => this.#room(),
      callback: (bytes) => {
        this.#end += bytes;
        this.#handOn();
        return true;
      },
    };
  }

  /** Give every chunk from now on to `deliver` (one receiver; a later call replaces it). */
  attach(deliver: (chunk: Buffer) => void): void {
    this.#deliver = deliver;
  }

  /** Where the next read goes: after what was read, in a new slab when too little room is left. */
  #room(): Buffer {
    const pending = this.#end - this.#start;
    const wanted = Math.max(this.#minRoomBytes, this.#pendingFrameBytes() - pending);
    if (this.#slab.length - this.#end < wanted) {
      const slab = Buffer.allocUnsafe(Math.max(this.#slabBytes, pending + wanted));
      this.#slab.copy(slab, 0, this.#start, this.#end);
      this.#slab = slab;
      this.#scan -= this.#start;
      this.#start = 0;
      this.#end = pending;
    }
    return this.#slab.subarray(this.#end);
  }

  /** The whole size of the incomplete frame at `#scan`, as far as its header tells (0 when not known). */
  #pendingFrameBytes(): number {
    if (this.#state !== 'frames') return 0;
    const length = this.#frameLength(this.#scan);
    return length === undefined || length < 0 ? 0 : length;
  }

  #handOn(): void {
    if (this.#state === 'head') this.#findHeadEnd();
    if (this.#state === 'frames') this.#findFrames();
    if (this.#state === 'as-read') this.#scan = this.#end;
    if (this.#scan === this.#start) return;
    const chunk = this.#slab.subarray(this.#start, this.#scan);
    this.#start = this.#scan;
    this.#deliver?.(chunk);
  }

  /** In the HTTP answer: hand on its head once whole; frames follow only a 101. */
  #findHeadEnd(): void {
    const read = this.#slab.subarray(this.#start, this.#end);
    const at = read.indexOf(HEAD_END);
    if (at < 0) {
      if (read.length > RELAY_CLIENT_READ_HEAD_MAX_BYTES) this.#state = 'as-read';
      return;
    }
    const head = read.toString('latin1', 0, Math.min(at, 32));
    this.#state = SWITCHING_PROTOCOLS.test(head) ? 'frames' : 'as-read';
    this.#scan = this.#start + at + HEAD_END.length;
    // The head goes on alone: the HTTP client then has no frame bytes to pass to ws.
    const chunk = this.#slab.subarray(this.#start, this.#scan);
    this.#start = this.#scan;
    this.#deliver?.(chunk);
  }

  /** Move `#scan` past every complete frame read so far. */
  #findFrames(): void {
    for (;;) {
      const length = this.#frameLength(this.#scan);
      if (length === undefined || this.#scan + length > this.#end) return;
      if (length < 0) {
        this.#state = 'as-read';
        return;
      }
      this.#scan += length;
    }
  }

  /**
   * The size of the frame at `offset` (header and payload) when its header has been read;
   * undefined when it has not; -1 for a length beyond WS_MAX_MESSAGE_BYTES (ws refuses it).
   */
  #frameLength(offset: number): number | undefined {
    const header = this.#header;
    const status = decodeFrameHeader(this.#slab, offset, this.#end, WS_MAX_MESSAGE_BYTES, header);
    if (status === FrameHeaderStatus.NeedMore) return undefined;
    if (status !== FrameHeaderStatus.Complete) return -1;
    return header.headerLength + header.payloadLength;
  }
}
