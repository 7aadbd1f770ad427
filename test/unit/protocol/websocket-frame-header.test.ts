/**
 * protocol/websocket-frame-header.ts: the one decoder of WebSocket frame headers (RFC 6455 §5.2)
 * that the relay's frame path, the endpoints' frame reads and the exec recorder share. Checked
 * against the RFC's own examples (§5.7), then against a straightforward reference decoding
 * (BigInt lengths, one field at a time) over a storm of random headers fed whole, cut at every
 * prefix, and split across random chunk boundaries.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  FrameHeader,
  FrameHeaderReader,
  FrameHeaderStatus,
  WEBSOCKET_FRAME_HEADER_MAX_BYTES,
  decodeFrameHeader,
} from '../../../src/protocol/websocket-frame-header.js';

interface Decoded {
  status: FrameHeaderStatus;
  fin?: boolean;
  rsv?: number;
  opcode?: number;
  masked?: boolean;
  mask?: number;
  lengthBytes?: number;
  payloadLength?: number;
  headerLength?: number;
}

/** The reference: RFC 6455 §5.2 read field by field, the 64-bit length as a BigInt. */
function referenceDecode(bytes: Buffer, limit: number): Decoded {
  if (bytes.length < 2) return { status: FrameHeaderStatus.NeedMore };
  const first = bytes[0]!;
  const second = bytes[1]!;
  const masked = second >= 128;
  const length7 = second % 128;
  const lengthBytes = length7 === 126 ? 2 : length7 === 127 ? 8 : 0;
  const headerLength = 2 + lengthBytes + (masked ? 4 : 0);
  if (bytes.length < headerLength) return { status: FrameHeaderStatus.NeedMore };
  const length = lengthBytes === 0 ? BigInt(length7) : lengthBytes === 2 ? BigInt(bytes.readUInt16BE(2)) : bytes.readBigUInt64BE(2);
  const status =
    length >= 2n ** 63n
      ? FrameHeaderStatus.LengthTopBitSet
      : length > BigInt(limit)
        ? FrameHeaderStatus.LengthOverLimit
        : FrameHeaderStatus.Complete;
  return {
    status,
    fin: first >= 128,
    rsv: Math.floor(first / 16) % 8,
    opcode: first % 16,
    masked,
    mask: masked ? bytes.readUInt32BE(headerLength - 4) : 0,
    lengthBytes,
    payloadLength: length > BigInt(Number.MAX_SAFE_INTEGER) ? Number.POSITIVE_INFINITY : Number(length),
    headerLength,
  };
}

function fieldsOf(status: FrameHeaderStatus, header: FrameHeader): Decoded {
  if (status === FrameHeaderStatus.NeedMore) return { status };
  const { fin, rsv, opcode, masked, mask, lengthBytes, payloadLength, headerLength } = header;
  return { status, fin, rsv, opcode, masked, mask, lengthBytes, payloadLength, headerLength };
}

/** A random header: any first byte, masked or not, a 7-, 16- or 64-bit length (minimal or not, huge or not). */
function randomHeader(): Buffer {
  const masked = randomInt(0, 2) === 1;
  const form = randomInt(0, 3);
  const parts: Buffer[] = [Buffer.from([randomInt(0, 256), (masked ? 0x80 : 0) | (form === 0 ? randomInt(0, 126) : form === 1 ? 126 : 127)])];
  if (form === 1) {
    const length = Buffer.alloc(2);
    length.writeUInt16BE(randomInt(0, 0x10000));
    parts.push(length);
  } else if (form === 2) {
    const length = Buffer.alloc(8);
    const pick = randomInt(0, 5);
    // Small (non-minimal), around 2^32, around 2^53, the top bit set, or anything.
    const high = pick === 0 ? 0 : pick === 1 ? randomInt(0, 2) : pick === 2 ? 0x1f_ffff + randomInt(0, 2) : pick === 3 ? 0x8000_0000 + randomInt(0, 0x8000_0000) : randomInt(0, 2 ** 32);
    length.writeUInt32BE(high, 0);
    length.writeUInt32BE(pick === 0 ? randomInt(0, 2 ** 16) : randomInt(0, 2 ** 32), 4);
    parts.push(length);
  }
  if (masked) parts.push(Buffer.from([randomInt(0, 256), randomInt(0, 256), randomInt(0, 256), randomInt(0, 256)]));
  return Buffer.concat(parts);
}

function randomLimit(): number {
  const limits = [0, 125, 126, 65_535, 65_536, 0x20000, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER];
  return limits[randomInt(0, limits.length)]!;
}

/** Feed `bytes` (a header, then `tail`) to a reader in random pieces; the decoded header and where reading went on. */
function readSplit(reader: FrameHeaderReader, bytes: Buffer): { status: FrameHeaderStatus; consumed: number; split: Buffer | undefined } {
  let at = 0;
  let consumed = 0;
  for (let round = 0; round <= bytes.length; round++) {
    const end = Math.min(bytes.length, at + randomInt(1, 6));
    const chunk = Buffer.concat([Buffer.alloc(3, 0xee), bytes.subarray(at, end)]);
    const status = reader.read(chunk, 3);
    assert.ok(reader.taken > 0 && reader.taken <= end - at, `taken ${reader.taken} of ${end - at}`);
    consumed += reader.taken;
    if (status !== FrameHeaderStatus.NeedMore) {
      const split = reader.splitHeaderBytes();
      return { status, consumed, split: split === undefined ? undefined : Buffer.from(split) };
    }
    assert.equal(reader.taken, end - at, 'a reader that needs more takes the whole rest of the chunk');
    at = end;
  }
  assert.fail('a whole header did not complete the read');
}

describe('decodeFrameHeader: RFC 6455 §5.7 examples', () => {
  const MASK = 0x37fa213d;
  const examples: ReadonlyArray<{ id: string; bytes: number[]; fields: Omit<Decoded, 'status'> }> = [
    {
      id: 'a single-frame unmasked text message ("Hello")',
      bytes: [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
      fields: { fin: true, rsv: 0, opcode: 1, masked: false, mask: 0, lengthBytes: 0, payloadLength: 5, headerLength: 2 },
    },
    {
      id: 'a single-frame masked text message ("Hello")',
      bytes: [0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58],
      fields: { fin: true, rsv: 0, opcode: 1, masked: true, mask: MASK, lengthBytes: 0, payloadLength: 5, headerLength: 6 },
    },
    {
      id: 'a fragmented unmasked text message, first fragment ("Hel")',
      bytes: [0x01, 0x03, 0x48, 0x65, 0x6c],
      fields: { fin: false, rsv: 0, opcode: 1, masked: false, mask: 0, lengthBytes: 0, payloadLength: 3, headerLength: 2 },
    },
    {
      id: 'a fragmented unmasked text message, last fragment ("lo")',
      bytes: [0x80, 0x02, 0x6c, 0x6f],
      fields: { fin: true, rsv: 0, opcode: 0, masked: false, mask: 0, lengthBytes: 0, payloadLength: 2, headerLength: 2 },
    },
    {
      id: 'an unmasked Ping ("Hello")',
      bytes: [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f],
      fields: { fin: true, rsv: 0, opcode: 9, masked: false, mask: 0, lengthBytes: 0, payloadLength: 5, headerLength: 2 },
    },
    {
      id: 'a masked Pong ("Hello")',
      bytes: [0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58],
      fields: { fin: true, rsv: 0, opcode: 10, masked: true, mask: MASK, lengthBytes: 0, payloadLength: 5, headerLength: 6 },
    },
    {
      id: '256 bytes binary message in a single unmasked frame',
      bytes: [0x82, 0x7e, 0x01, 0x00],
      fields: { fin: true, rsv: 0, opcode: 2, masked: false, mask: 0, lengthBytes: 2, payloadLength: 256, headerLength: 4 },
    },
    {
      id: '64KiB binary message in a single unmasked frame',
      bytes: [0x82, 0x7f, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00],
      fields: { fin: true, rsv: 0, opcode: 2, masked: false, mask: 0, lengthBytes: 8, payloadLength: 65536, headerLength: 10 },
    },
  ];
  for (const example of examples) {
    it(`${example.id}: every field as the RFC gives it, and need-more for every shorter prefix`, () => {
      const bytes = Buffer.from(example.bytes);
      const header = new FrameHeader();
      const status = decodeFrameHeader(bytes, 0, bytes.length, 1 << 20, header);
      assert.deepEqual(fieldsOf(status, header), { status: FrameHeaderStatus.Complete, ...example.fields }, example.id);
      const headerLength = example.fields.headerLength!;
      for (let end = 0; end < headerLength; end++) {
        assert.equal(decodeFrameHeader(bytes, 0, end, 1 << 20, new FrameHeader()), FrameHeaderStatus.NeedMore, `${example.id}: prefix ${end}`);
      }
      // Decoded at an offset, and byte by byte through a reader.
      const shifted = Buffer.concat([Buffer.from([0xff, 0xff]), bytes]);
      assert.deepEqual(fieldsOf(decodeFrameHeader(shifted, 2, shifted.length, 1 << 20, header), header), { status: FrameHeaderStatus.Complete, ...example.fields }, `${example.id}: at offset 2`);
      const reader = new FrameHeaderReader(1 << 20);
      let read: FrameHeaderStatus = FrameHeaderStatus.NeedMore;
      for (let i = 0; i < headerLength; i++) {
        read = reader.read(bytes.subarray(i, i + 1), 0);
        assert.equal(read, i < headerLength - 1 ? FrameHeaderStatus.NeedMore : FrameHeaderStatus.Complete, `${example.id}: byte ${i}`);
      }
      assert.deepEqual(fieldsOf(read, reader.header), { status: FrameHeaderStatus.Complete, ...example.fields }, `${example.id}: byte by byte`);
      if (headerLength > 1) assert.deepEqual(reader.splitHeaderBytes(), bytes.subarray(0, headerLength), `${example.id}: the split header's bytes`);
    });
  }
});

describe('Security: decodeFrameHeader against hostile headers', () => {
  it('a storm of random headers, whole, cut at every prefix and split at random points, decodes exactly as the reference does', () => {
    // One reader per limit, reused for every header with it: a finished header leaves nothing behind.
    const readers = new Map<number, FrameHeaderReader>();
    for (let round = 0; round < 3000; round++) {
      const header = randomHeader();
      const limit = randomLimit();
      const tail = Buffer.from([randomInt(0, 256), randomInt(0, 256), randomInt(0, 256)]);
      const bytes = Buffer.concat([header, tail]);
      const id = `round ${round}: ${header.toString('hex')} limit ${limit}`;
      const expected = referenceDecode(header, limit);
      assert.notEqual(expected.status, FrameHeaderStatus.NeedMore, id);
      const out = new FrameHeader();
      assert.deepEqual(fieldsOf(decodeFrameHeader(bytes, 0, bytes.length, limit, out), out), expected, `${id}: whole, with bytes after it`);
      for (let end = 0; end < header.length; end++) {
        assert.equal(decodeFrameHeader(bytes, 0, end, limit, out), FrameHeaderStatus.NeedMore, `${id}: prefix ${end}`);
      }
      const splitReader = readers.get(limit) ?? new FrameHeaderReader(limit);
      readers.set(limit, splitReader);
      const split = readSplit(splitReader, bytes);
      assert.deepEqual(fieldsOf(split.status, splitReader.header), expected, `${id}: split`);
      assert.equal(split.consumed, header.length, `${id}: the reader took the header's bytes and no more`);
      if (split.split !== undefined) assert.deepEqual(split.split, header, `${id}: the split header's bytes`);
      assert.equal(splitReader.stashedLength, 0, `${id}: nothing stashed after a whole header`);
    }
  });

  it('a 64-bit length with its top bit set is refused as such, whatever the limit', () => {
    for (const high of [0x8000_0000, 0xffff_ffff]) {
      const bytes = Buffer.from([0x82, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4]);
      bytes.writeUInt32BE(high, 2);
      const out = new FrameHeader();
      assert.equal(decodeFrameHeader(bytes, 0, bytes.length, Number.MAX_SAFE_INTEGER, out), FrameHeaderStatus.LengthTopBitSet, `high ${high}`);
      assert.equal(out.payloadLength, Number.POSITIVE_INFINITY, `high ${high}`);
      assert.equal(out.headerLength, WEBSOCKET_FRAME_HEADER_MAX_BYTES, `high ${high}`);
    }
  });

  it('a length one above the limit is refused, the limit itself is not; 2^53 is above every limit', () => {
    const header = (length: bigint): Buffer => {
      const bytes = Buffer.from([0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0]);
      bytes.writeBigUInt64BE(length, 2);
      return bytes;
    };
    const out = new FrameHeader();
    for (const limit of [0, 125, 65_535, 16 * 1024 * 1024, 2 ** 32 - 1, Number.MAX_SAFE_INTEGER]) {
      const at = header(BigInt(limit));
      assert.equal(decodeFrameHeader(at, 0, at.length, limit, out), FrameHeaderStatus.Complete, `limit ${limit}`);
      assert.equal(out.payloadLength, limit, `limit ${limit}`);
      const over = header(BigInt(limit) + 1n);
      assert.equal(decodeFrameHeader(over, 0, over.length, limit, out), FrameHeaderStatus.LengthOverLimit, `limit ${limit} + 1`);
    }
  });

  it('a non-minimal length encoding is read as what it says (ws accepts it, and so do all callers)', () => {
    const out = new FrameHeader();
    const sixteen = Buffer.from([0x82, 0x7e, 0x00, 0x05]);
    assert.equal(decodeFrameHeader(sixteen, 0, sixteen.length, 100, out), FrameHeaderStatus.Complete);
    assert.deepEqual([out.payloadLength, out.lengthBytes, out.headerLength], [5, 2, 4]);
    const sixtyFour = Buffer.from([0x82, 0xff, 0, 0, 0, 0, 0, 0, 0, 5, 9, 9, 9, 9]);
    assert.equal(decodeFrameHeader(sixtyFour, 0, sixtyFour.length, 100, out), FrameHeaderStatus.Complete);
    assert.deepEqual([out.payloadLength, out.lengthBytes, out.headerLength, out.mask], [5, 8, 14, 0x09090909]);
  });
});
