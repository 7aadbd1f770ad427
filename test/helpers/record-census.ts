/**
 * What crosses the secure channel, record by record: wraps each side's `transport.send` (to
 * count ACK records, which carry no MUX bytes) and the receiving channel's `mux.push` (each MUX
 * record's plaintext is pushed whole, once), and reads the HTTP/2 frames inside each MUX
 * record. For tests and measurements of messages per request (docs/performance.md "kubectl,
 * fifth look"). Counting starts at `start()`; both channels must exist before `attach`.
 */
import type { SecureChannel } from '../../src/channel/secure-channel.js';
import type { MessageTransport, OutgoingFrame } from '../../src/channel/transport.js';
import { outgoingFrameLength } from '../../src/channel/transport.js';

/** An ACK record's frame: 1 + 8 + 16 (docs/protocol.md §7.1). */
export const ACK_FRAME_BYTES = 25;

const FRAME_TYPES = ['DATA', 'HEADERS', 'PRIORITY', 'RST_STREAM', 'SETTINGS', 'PUSH_PROMISE', 'PING', 'GOAWAY', 'WINDOW_UPDATE', 'CONTINUATION'];
const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;

export interface Http2FrameSeen {
  readonly type: string;
  readonly length: number;
  readonly streamId: number;
  /** END_STREAM on DATA/HEADERS, ACK on SETTINGS/PING. */
  readonly flagged: boolean;
}

/** One MUX record as its receiver saw it: the frames that begin in it. */
export interface MuxRecordSeen {
  readonly bytes: number;
  readonly frames: Http2FrameSeen[];
}

export type Direction = 'client' | 'agent';

export interface RecordCensus {
  /** MUX records each side sent (seen at the receiver), since `start()`. */
  readonly records: Record<Direction, MuxRecordSeen[]>;
  /** ACK records each side sent, since `start()`. */
  readonly acks: Record<Direction, number>;
  /** All frames each side handed to its carrier (records of any type), since `start()`. */
  readonly sent: Record<Direction, number>;
  start(): void;
  /** Zero the counts (between measured requests). */
  reset(): void;
}

/** Watch `transports` (agent's, client's) before the channels are made on them. */
export function watchTransports(transports: [MessageTransport, MessageTransport]): {
  census: RecordCensus;
  /** Call once the channels exist and their HTTP/2 connection prefaces have crossed (the census reads frames from a frame boundary): their MUX reads are watched from then on. */
  attach(channels: { readonly agent: SecureChannel; readonly client: SecureChannel }): void;
} {
  let counting = false;
  const records: Record<Direction, MuxRecordSeen[]> = { client: [], agent: [] };
  const acks: Record<Direction, number> = { client: 0, agent: 0 };
  const sent: Record<Direction, number> = { client: 0, agent: 0 };
  const census: RecordCensus = {
    records,
    acks,
    sent,
    start: () => (counting = true),
    reset: () => {
      for (const side of ['client', 'agent'] as const) {
        records[side].length = 0;
        acks[side] = 0;
        sent[side] = 0;
      }
    },
  };
  const sides = [
    [transports[0], 'agent'],
    [transports[1], 'client'],
  ] as const;
  for (const [transport, side] of sides) {
    const send = transport.send.bind(transport);
    transport.send = (frame: OutgoingFrame): boolean => {
      if (counting) {
        sent[side] += 1;
        if (outgoingFrameLength(frame) === ACK_FRAME_BYTES) acks[side] += 1;
      }
      return send(frame);
    };
  }
  return {
    census,
    attach(channels) {
      // The agent's channel receives what the client sent, and the other way round.
      // Both were made by now: their connection prefaces crossed before, so reading starts at a frame.
      watchMux(channels.agent, 'client');
      watchMux(channels.client, 'agent');
    },
  };

  function watchMux(channel: SecureChannel, sender: Direction): void {
    const reader = new FrameReader();
    const push = channel.mux.push.bind(channel.mux);
    channel.mux.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
      if (chunk instanceof Uint8Array) {
        const frames = reader.read(chunk);
        if (counting) records[sender].push({ bytes: chunk.length, frames });
      }
      return push(chunk, encoding);
    };
  }
}

/** HTTP/2 frames across record boundaries: a frame counts in the record its header begins in. */
class FrameReader {
  #header = Buffer.alloc(0);
  #payloadLeft = 0;

  read(chunk: Uint8Array): Http2FrameSeen[] {
    const frames: Http2FrameSeen[] = [];
    let offset = 0;
    while (offset < chunk.length) {
      if (this.#payloadLeft > 0) {
        const take = Math.min(this.#payloadLeft, chunk.length - offset);
        this.#payloadLeft -= take;
        offset += take;
        continue;
      }
      const need = 9 - this.#header.length;
      const take = Math.min(need, chunk.length - offset);
      this.#header = Buffer.concat([this.#header, chunk.subarray(offset, offset + take)]);
      offset += take;
      if (this.#header.length < 9) break;
      const h = this.#header;
      this.#header = Buffer.alloc(0);
      const length = h.readUIntBE(0, 3);
      const typeCode = h[3]!;
      const flags = h[4]!;
      const type = FRAME_TYPES[typeCode] ?? `type-${typeCode}`;
      const flagged = (type === 'DATA' || type === 'HEADERS' ? flags & FLAG_END_STREAM : type === 'SETTINGS' || type === 'PING' ? flags & FLAG_ACK : 0) !== 0;
      frames.push({ type, length, streamId: h.readUInt32BE(5) & 0x7fffffff, flagged });
      this.#payloadLeft = length;
    }
    return frames;
  }
}

/** "DATA(300)+WINDOW_UPDATE" — one record's frames, for tables and messages. */
/** Records that carry stream bytes (a DATA frame with a payload): requests and answers. */
export function carrying(records: readonly MuxRecordSeen[]): MuxRecordSeen[] {
  return records.filter((record) => record.frames.some((frame) => frame.type === 'DATA' && frame.length > 0));
}

export function describeRecord(record: MuxRecordSeen): string {
  return record.frames.map((frame) => (frame.type === 'DATA' ? `DATA(${frame.length})` : frame.flagged ? `${frame.type}+ACK` : frame.type)).join('+') || `(${record.bytes} bytes, continuing a frame)`;
}
