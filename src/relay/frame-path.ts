/**
 * The relay's own byte path for end-to-end binary frames (docs/design.md §3, RFC 6455 §5;
 * issue 15, docs/performance.md "Relay forwarding and memory"): binary frames of an endpoint's
 * socket are read off the socket's own read buffers and written to the other endpoint as a frame
 * header followed by those same buffers, with no copy. `ws` keeps everything else.
 *
 * Why: through `ws`, every frame that spans two socket reads (nearly all of them: endpoints send
 * records up to 256 KiB, a read is at most 64 KiB) is copied into a fresh buffer by ws's Receiver,
 * and those fresh buffers' external memory drives V8 into full mark-compacts; the copy and the
 * collections were a third of the relay's CPU.
 *
 * How (FrameReader): ws's socket hands each chunk it reads to its Receiver's `write`; a reader
 * installed on that Receiver (`FrameReader.install`, while ws has not been written anything)
 * sees every chunk first and walks the frame headers in it (decoded by the shared
 * protocol/websocket-frame-header.ts, which also carries a header split across reads):
 * - a complete binary frame (FIN set, no RSV bits, masked, opcode 2, at most `maxPayloadBytes`)
 *   is unmasked in place (the buffers are the socket's fresh read buffers, which ws unmasks in
 *   place too) and handed to the target as slices of those buffers;
 * - a text, ping or pong frame that is well formed by its header is passed to ws's Receiver
 *   byte for byte as it arrives, whole, so ws validates and handles it as before (UTF-8, the
 *   automatic pong, the 'message'/'ping'/'pong' events) and is at a frame boundary again after it;
 * - anything else (a close frame, fragments, continuation, RSV bits, no mask, a length over the
 *   limit, an unknown opcode, a control frame over 125 bytes) and everything after it goes to ws
 *   unread: ws closes the handshake or fails the connection with its own error and close code
 *   exactly as if it had read the socket from the start. So does everything once the socket is
 *   no longer OPEN (the relay or the peer began to close it).
 * After each passed frame the reader stops for good once ws's Receiver ended or failed (a close
 * frame, an error): ws then reads nothing more either.
 *
 * Reads (read-slabs.ts): once a peer joined a session its socket is read into reused buffers
 * (`push` with the chunk's source): a chunk of the node's shared buffer is copied where kept, a
 * slab's is kept as views (the frame pins the slab until written), and bytes for ws are always
 * copies. While the relay stopped reading the sender (backpressure, `holding`), the rest of a
 * read is kept as a copy and read on `resumeHeld`, so a large read forwards no more than before.
 *
 * Writing (writeBinaryFrame): a server frame (RFC 6455 §5.2, unmasked) is a 2, 4 or 10 byte
 * header and the payload slices, written corked so the socket writes them with one writev, in the
 * order of the calls and between ws's own writes (ws's Sender writes synchronously, no
 * compression is negotiated), and counted in ws's `bufferedAmount` (the socket's write queue).
 *
 * ws internals relied on (ws is pinned exactly; test/integration/relay covers each): a
 * WebSocket's `_receiver` (a Writable whose `write` ws's socket listener calls with each chunk)
 * and `_socket` (the net or TLS socket).
 *
 * Untrusted input: every byte of the endpoint's socket. A hostile peer controls chunk boundaries,
 * lengths, masks and opcodes; headers are parsed with bounds from what has arrived, lengths are
 * checked before anything is buffered, and ws remains the judge of every frame the reader does
 * not forward itself.
 */
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import type { Duplex } from 'node:stream';
import type { WebSocket } from '../ws-runtime.js';
import { RELAY_FRAME_HEADER_ROOM_BYTES, WEBSOCKET_CONTROL_PAYLOAD_MAX_BYTES } from '../limits.js';
import { FrameHeaderReader, FrameHeaderStatus } from '../protocol/websocket-frame-header.js';
import { WebSocketOpcode } from '../protocol/websocket-opcode.js';
import { ReadSource, ReadSlab } from './read-slabs.js';
import type { SlabReader } from './read-slabs.js';

/** Where a reader's frames go: binary frames to the relay, the rest to ws's Receiver. */
export interface FrameTarget {
  /**
   * One complete binary frame: its unmasked payload as `slices` (in order), `length` bytes in all.
   * `slab`: some slices are views of that read slab (read-slabs.ts); whoever keeps them past this
   * call pins the slab and unpins it once done with them.
   * `headerRoom`: when the payload is one slice of `slab`, the bytes of `slab` just before it that
   * held the frame's own header and may be overwritten (a server header fits: the client's had a
   * 4-byte mask key more); when it is one slice the reader copied out of the shared buffer into a
   * buffer of its own, the RELAY_FRAME_HEADER_ROOM_BYTES it left free before it; else 0.
   */
  binaryFrame(slices: Buffer[], length: number, slab: ReadSlab | undefined, headerRoom: number): void;
  /** Bytes for ws's Receiver (the reader never splits a frame between itself and ws). */
  passToWs(bytes: Buffer): void;
  /** 'open': the reader forwards; 'closing': ws reads everything; 'stopped': nobody reads any more. */
  readState(): 'open' | 'closing' | 'stopped';
  /**
   * True while the relay stopped reading this socket (backpressure, forwarding.ts): the reader
   * then keeps the rest of a read, copied, until `resumeHeld`, so no more frames than before
   * are forwarded past the mark however large a read is.
   */
  holding?(): boolean;
}

/** The reader's states. */
const Mode = {
  /** At a frame boundary, or inside a header split across reads. */
  Header: 0,
  /** Collecting the payload of a binary frame. */
  Payload: 1,
  /** Passing the rest of one whole frame to ws. */
  PassFrame: 2,
  /** Passing everything to ws, unread. */
  PassAll: 3,
  /** ws stopped reading; so does the reader. */
  Stopped: 4,
} as const;
type Mode = (typeof Mode)[keyof typeof Mode];

interface Unmasker {
  unmask(buffer: Buffer, mask: Buffer): void;
}

/** bufferutil's native unmask when it loads (as ws uses it), else a JavaScript loop. */
const unmasker: Unmasker = loadUnmasker();

function loadUnmasker(): Unmasker {
  try {
    const util = createRequire(import.meta.url)('bufferutil') as Partial<Unmasker>;
    if (typeof util.unmask === 'function') return util as Unmasker;
  } catch {
    // not installed or not loadable: the loop below, as ws falls back to its own
  }
  return { unmask: unmaskLoop };
}

function unmaskLoop(buffer: Buffer, mask: Buffer): void {
  for (let i = 0; i < buffer.length; i++) buffer[i] = (buffer[i] as number) ^ (mask[i & 3] as number);
}

/** Scratch for the mask of one slice (written and used synchronously). */
const MASK = Buffer.alloc(4);

/** XOR `slice` with the frame's mask `mask` (big-endian uint32) starting at payload offset `offset`. */
function unmaskAt(slice: Buffer, mask: number, offset: number): void {
  const shift = (offset & 3) * 8;
  const rotated = shift === 0 ? mask : (mask << shift) | (mask >>> (32 - shift));
  // Byte by byte (not writeUInt32BE): no boxed number for a mask of 2^31 or more (issue 15, allocation per frame).
  MASK[0] = rotated >>> 24;
  MASK[1] = (rotated >>> 16) & 0xff;
  MASK[2] = (rotated >>> 8) & 0xff;
  MASK[3] = rotated & 0xff;
  if (slice.length < 32) unmaskLoop(slice, MASK);
  else unmasker.unmask(slice, MASK);
}

/** Where the reader of a ws Receiver is kept (a property, so `write` is one function for all). */
const READER = Symbol('kubepair.frameReader');

interface WsInternals {
  readonly _receiver?: Writable & { [READER]?: FrameReader };
  readonly _socket?: Duplex;
}

/** The net or TLS socket under a ws WebSocket (undefined before it has one). */
export function socketOf(ws: WebSocket): Duplex | undefined {
  return (ws as unknown as WsInternals)._socket;
}

/** ws's Receiver's own `write` (Writable's), always called with a Receiver as `this`. */
// eslint-disable-next-line @typescript-eslint/unbound-method
const receiverWrite = Writable.prototype.write as (this: Writable, chunk: Buffer) => boolean;

/** `write` of a Receiver with a reader: the reader sees the chunk first. */
function readerWrite(this: Writable & { [READER]?: FrameReader }, chunk: Buffer): boolean {
  const reader = this[READER];
  if (reader === undefined) return receiverWrite.call(this, chunk);
  reader.push(chunk);
  return true;
}

export class FrameReader implements SlabReader {
  readonly #target: FrameTarget;
  readonly #maxPayloadBytes: number;
  /**
   * The limit the header decoder applies: the message limit, but never below the control frames'
   * (ping and pong have their own) and never 2^32 or more (over any limit the relay accepts: ws
   * refuses it, and anything over 2^53).
   */
  readonly #headerLimit: number;
  #mode: Mode = Mode.Header;
  /** Frame headers, also those split across reads. */
  readonly #headers: FrameHeaderReader;
  /** The frame being read or passed: payload bytes still to come. */
  #remaining = 0;
  #length = 0;
  #mask = 0;
  #slices: Buffer[] = [];
  /** The read slab the current frame's slices are views of, if any. */
  #frameSlab: ReadSlab | undefined;
  /**
   * The current frame's header bytes that lie in #frameSlab just before its first slice (the
   * header and the payload's start were read in one slab chunk); 0 when they do not.
   */
  #headerRoom = 0;
  /** Free bytes before the current frame's one slice when that slice is a copy of our own (#pushCopy); else 0. */
  #copyRoom = 0;
  /** Bytes read while the target was holding (a copy), to be read once it no longer is. */
  #held: Buffer | undefined;
  /** Where the chunk being read lives (ReadSource, or its slab). */
  #source: ReadSlab | 0 | 1 = ReadSource.Stable;

  constructor(target: FrameTarget, maxPayloadBytes: number) {
    this.#target = target;
    this.#maxPayloadBytes = maxPayloadBytes;
    this.#headerLimit = Math.min(Math.max(maxPayloadBytes, WEBSOCKET_CONTROL_PAYLOAD_MAX_BYTES), 0xffff_ffff);
    this.#headers = new FrameHeaderReader(this.#headerLimit);
  }

  /**
   * Read `ws`'s socket through a reader for `target` from now on. Only while ws has not been
   * written anything (its Receiver is at the start of a frame); undefined when ws is not as
   * expected (then ws reads on its own, as before).
   */
  static install(ws: WebSocket, target: FrameTarget, maxPayloadBytes: number): FrameReader | undefined {
    const receiver = (ws as unknown as WsInternals)._receiver;
    if (receiver === undefined || typeof receiver.write !== 'function' || receiver.writableLength !== 0) return undefined;
    const reader = new FrameReader(target, maxPayloadBytes);
    receiver[READER] = reader;
    receiver.write = readerWrite as Writable['write'];
    return reader;
  }

  /** Give `bytes` to ws's Receiver as its socket would have (FrameTarget.passToWs of a socket). */
  static passToReceiver(ws: WebSocket, bytes: Buffer): void {
    const receiver = (ws as unknown as WsInternals)._receiver;
    if (receiver !== undefined) receiverWrite.call(receiver, bytes);
  }

  /** Whether ws's Receiver still takes bytes (it has not ended on a close frame or failed). */
  static receiverReading(ws: WebSocket): boolean {
    const receiver = (ws as unknown as WsInternals)._receiver;
    return receiver !== undefined && !receiver.writableEnded && !receiver.destroyed && receiver.errored === null;
  }

  /** Bytes of the incomplete binary frame's payload held so far. */
  get pendingBytes(): number {
    return this.#mode === Mode.Payload ? this.#length - this.#remaining : 0;
  }

  /** The incomplete binary frame's whole payload size (0 when none). */
  get pendingFrameBytes(): number {
    return this.#mode === Mode.Payload ? this.#length : 0;
  }

  /**
   * Copy the incomplete frame's payload so far into `slab` (after RELAY_FRAME_HEADER_ROOM_BYTES
   * left free for the server header), hold views of the copy; returns where the next read goes.
   */
  relocatePending(slab: ReadSlab): number {
    if (this.pendingBytes === 0) {
      this.#slices = [];
      this.#frameSlab = undefined;
      this.#headerRoom = 0;
      return 0;
    }
    let at = RELAY_FRAME_HEADER_ROOM_BYTES;
    for (const slice of this.#slices) at += slice.copy(slab.bytes, at);
    this.#slices = [slab.bytes.subarray(RELAY_FRAME_HEADER_ROOM_BYTES, at)];
    this.#frameSlab = slab;
    this.#headerRoom = RELAY_FRAME_HEADER_ROOM_BYTES;
    return at;
  }

  /**
   * One chunk read from the socket, in order. `source`: where it lives (read-slabs.ts): a chunk
   * of the shared buffer is copied where kept, a slab's is kept as views, and bytes for ws are
   * copied unless the chunk is Node's own.
   */
  push(chunk: Buffer, source: ReadSlab | 0 | 1 = ReadSource.Stable): void {
    if (this.#held !== undefined) {
      this.#held = Buffer.concat([this.#held, chunk]);
      return;
    }
    this.#source = source;
    let pos = 0;
    while (pos < chunk.length) {
      switch (this.#mode) {
        case Mode.Header:
          if (this.#target.holding?.() === true) {
            this.#held = Buffer.from(chunk.subarray(pos));
            return;
          }
          pos = this.#readHeader(chunk, pos);
          break;
        case Mode.Payload: {
          const take = Math.min(this.#remaining, chunk.length - pos);
          if (source === ReadSource.Transient) this.#pushCopy(chunk, pos, take);
          else {
            const slice = pos === 0 && take === chunk.length ? chunk : chunk.subarray(pos, pos + take);
            if (source instanceof ReadSlab) this.#pushSlabSlice(slice, source);
            else this.#slices.push(slice);
          }
          pos += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#completeBinary();
          break;
        }
        case Mode.PassFrame: {
          const take = Math.min(this.#remaining, chunk.length - pos);
          this.#toWs(pos === 0 && take === chunk.length ? chunk : chunk.subarray(pos, pos + take));
          pos += take;
          this.#remaining -= take;
          if (this.#remaining === 0) this.#afterPassedFrame();
          break;
        }
        case Mode.PassAll:
          this.#toWs(pos === 0 ? chunk : chunk.subarray(pos));
          return;
        case Mode.Stopped:
          return;
      }
    }
  }

  /**
   * A copy of a slice of the shared buffer. A whole payload (`whole`: the usual small frame) is
   * copied RELAY_FRAME_HEADER_ROOM_BYTES into a buffer of its own, so the server header can be
   * written in front of it and the frame sent as one buffer (writeBinaryFrame; issue 15: no
   * header buffer, cork or writev per frame).
   */
  #pushCopy(chunk: Buffer, pos: number, take: number): void {
    if (take !== this.#length) {
      this.#slices.push(Buffer.from(chunk.subarray(pos, pos + take)));
      return;
    }
    const copy = Buffer.allocUnsafe(RELAY_FRAME_HEADER_ROOM_BYTES + take);
    chunk.copy(copy, RELAY_FRAME_HEADER_ROOM_BYTES, pos, pos + take);
    this.#slices.push(copy.subarray(RELAY_FRAME_HEADER_ROOM_BYTES));
    this.#copyRoom = RELAY_FRAME_HEADER_ROOM_BYTES;
  }

  /** A payload slice of a slab: one with the previous slice when it follows it in the same slab (reads follow each other there). */
  #pushSlabSlice(slice: Buffer, slab: ReadSlab): void {
    const slices = this.#slices;
    const last = slices.length - 1;
    const previous = slices[last];
    if (previous !== undefined && this.#frameSlab === slab && previous.buffer === slice.buffer && previous.byteOffset + previous.length === slice.byteOffset) {
      slices[last] = Buffer.from(previous.buffer, previous.byteOffset, previous.length + slice.length);
    } else {
      slices.push(slice);
      this.#frameSlab = slab;
    }
  }

  /** The target reads again: read what was held back (it may hold the rest again). */
  resumeHeld(): void {
    const held = this.#held;
    if (held === undefined) return;
    this.#held = undefined;
    this.push(held, ReadSource.Stable);
  }

  /** Parse a header at `pos` (after any stashed bytes); returns where reading goes on. */
  #readHeader(chunk: Buffer, pos: number): number {
    const headers = this.#headers;
    const status = headers.read(chunk, pos);
    if (status === FrameHeaderStatus.NeedMore) return chunk.length;
    const afterHeader = pos + headers.taken;

    const state = this.#target.readState();
    if (state !== 'open') {
      // ws reads the rest (or nobody does): from this frame's first byte on.
      this.#passAll(chunk, pos, afterHeader, state);
      return chunk.length;
    }
    const header = headers.header;
    const length = header.payloadLength;
    const opcode = header.opcode;
    // FIN set, RSV1-3 clear (no extension is negotiated), masked; a length within #headerLimit.
    const plain = status === FrameHeaderStatus.Complete && header.fin && header.rsv === 0 && header.masked;
    const binary = plain && opcode === WebSocketOpcode.Binary && length <= this.#maxPayloadBytes;
    const passed =
      plain &&
      ((opcode === WebSocketOpcode.Text && length <= this.#maxPayloadBytes) ||
        ((opcode === WebSocketOpcode.Ping || opcode === WebSocketOpcode.Pong) && length <= WEBSOCKET_CONTROL_PAYLOAD_MAX_BYTES));
    if (!binary && !passed) {
      // Close, fragments, or a frame ws refuses: ws decides, from this frame on.
      this.#passAll(chunk, pos, afterHeader, 'closing');
      return chunk.length;
    }
    this.#length = length;
    this.#remaining = length;
    if (binary) {
      this.#mask = header.mask;
      this.#mode = Mode.Payload;
      // The header lies just before the payload's first slice when both are in this slab chunk.
      this.#headerRoom = this.#source instanceof ReadSlab && afterHeader < chunk.length && this.#headers.splitHeaderBytes() === undefined ? afterHeader - pos : 0;
      if (length === 0) this.#completeBinary();
      return afterHeader;
    }
    this.#passHeader(chunk, pos, afterHeader);
    this.#mode = Mode.PassFrame;
    if (length === 0) this.#afterPassedFrame();
    return afterHeader;
  }

  /** Bytes for ws: a copy unless they are in a buffer of Node's own (ws may keep them; read buffers are reused). */
  #toWs(bytes: Buffer): void {
    this.#target.passToWs(this.#source === ReadSource.Stable ? bytes : Buffer.from(bytes));
  }

  /** The header just read to ws: from the reader's stash when it was split (a copy: ws keeps it), else from `chunk`. */
  #passHeader(chunk: Buffer, pos: number, afterHeader: number): void {
    const split = this.#headers.splitHeaderBytes();
    if (split === undefined) this.#toWs(chunk.subarray(pos, afterHeader));
    else this.#target.passToWs(Buffer.from(split));
  }

  /** Everything from this frame's first byte (its header, then `chunk[afterHeader..]`) to ws, or to nobody. */
  #passAll(chunk: Buffer, pos: number, afterHeader: number, state: 'closing' | 'stopped'): void {
    if (state === 'stopped') {
      this.#mode = Mode.Stopped;
      return;
    }
    this.#mode = Mode.PassAll;
    if (this.#headers.splitHeaderBytes() === undefined) {
      if (pos < chunk.length) this.#toWs(chunk.subarray(pos));
      return;
    }
    this.#passHeader(chunk, pos, afterHeader);
    if (afterHeader < chunk.length) this.#toWs(chunk.subarray(afterHeader));
  }

  #completeBinary(): void {
    const slices = this.#slices;
    const slab = this.#frameSlab;
    const headerRoom = slices.length !== 1 ? 0 : slab !== undefined ? this.#headerRoom : this.#copyRoom;
    this.#slices = [];
    this.#frameSlab = undefined;
    this.#headerRoom = 0;
    this.#copyRoom = 0;
    this.#mode = Mode.Header;
    const mask = this.#mask;
    if (mask !== 0) {
      let offset = 0;
      for (const slice of slices) {
        unmaskAt(slice, mask, offset);
        offset += slice.length;
      }
    }
    this.#target.binaryFrame(slices, this.#length, slab, headerRoom);
  }

  /** ws has the whole frame: it may have ended (a close it began) or failed on it. */
  #afterPassedFrame(): void {
    const state = this.#target.readState();
    this.#mode = state === 'open' ? Mode.Header : state === 'closing' ? Mode.PassAll : Mode.Stopped;
  }
}

/** A server frame header (RFC 6455 §5.2: FIN, opcode 2, no mask) for a payload of `length` bytes. */
export function binaryFrameHeader(length: number): Buffer {
  const header = Buffer.allocUnsafe(serverHeaderBytes(length));
  writeBinaryFrameHeader(header, length);
  return header;
}

/** Write binaryFrameHeader(length) at the start of `out` (at least serverHeaderBytes(length) long). */
function writeBinaryFrameHeader(out: Buffer, length: number): void {
  out[0] = 0x82;
  if (length < 126) {
    out[1] = length;
  } else if (length < 0x10000) {
    out[1] = 126;
    out[2] = length >>> 8;
    out[3] = length & 0xff;
  } else {
    out[1] = 127;
    out.writeUInt32BE(Math.floor(length / 0x100000000), 2);
    out.writeUInt32BE(length >>> 0, 6);
  }
}

/** Server header bytes for a payload of `length` (RFC 6455 §5.2). */
function serverHeaderBytes(length: number): number {
  return length < 126 ? 2 : length < 0x10000 ? 4 : 10;
}

/**
 * Write one binary frame of `slices` (`length` bytes in all) to `socket` as one corked writev;
 * `done` runs once the last byte was handed to the kernel (or the write failed).
 * When the payload is one slice with `headerRoom` free bytes before it (FrameTarget), the header
 * is written there and the frame goes out as one buffer: no copy (TLS, issue 15: a TLS socket
 * joins corked pieces into one new buffer before encrypting) and, on any socket, no header
 * buffer, cork or writev request objects (issue 15, allocation per request).
 */
export function writeBinaryFrame(socket: Duplex, slices: readonly Buffer[], length: number, done: (err?: Error | null) => void, headerRoom = 0): void {
  const only = slices[0];
  if (headerRoom > 0 && slices.length === 1 && only !== undefined) {
    const headerBytes = serverHeaderBytes(length);
    if (headerBytes <= headerRoom && headerBytes <= only.byteOffset) {
      const frame = Buffer.from(only.buffer, only.byteOffset - headerBytes, headerBytes + only.length);
      writeBinaryFrameHeader(frame, length);
      socket.write(frame, done);
      return;
    }
  }
  const header = binaryFrameHeader(length);
  const last = slices.length - 1;
  if (last < 0) {
    socket.write(header, done);
    return;
  }
  socket.cork();
  socket.write(header);
  for (let i = 0; i < last; i++) socket.write(slices[i]);
  socket.write(slices[last], done);
  socket.uncork();
}
