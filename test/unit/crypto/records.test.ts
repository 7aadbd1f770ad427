/** The record layer: nonce construction, inner types, key update, and fatal failures. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { aesGcmSeal } from '../../../src/crypto/aead.js';
import { nextTrafficSecret } from '../../../src/crypto/key-schedule.js';
import {
  ACK_FRAME_BYTES,
  InnerType,
  RECORD_AAD,
  RecordOpener,
  RecordSealer,
  decodeCount,
  encodeCount,
  recordNonce,
  writeRecordNonce,
} from '../../../src/crypto/records.js';
import { RECORD_MUX_CHUNK_BYTES } from '../../../src/limits.js';
import { hex, toHex } from '../../helpers/vectors.js';

const secret = () => ({ key: new Uint8Array(32).fill(0x11), iv: hex('000102030405060708090a0b') });
const body = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('record layer (docs/design.md §4)', () => {
  it('nonce = iv XOR the 64-bit big-endian sequence number', () => {
    const iv = hex('000102030405060708090a0b');
    assert.equal(toHex(recordNonce(iv, 0)), '000102030405060708090a0b', 'seq 0');
    assert.equal(toHex(recordNonce(iv, 1)), '000102030405060708090a0a', 'seq 1');
    assert.equal(toHex(recordNonce(iv, 0x01020304)), '0001020304050607090b090f', 'seq 0x01020304');
    assert.equal(toHex(recordNonce(iv, 2 ** 40)), '000102030405070708090a0b', 'seq 2^40 reaches byte 6');
  });

  it('writeRecordNonce writes the same nonce into a reused buffer, whatever it held before', () => {
    const iv = hex('000102030405060708090a0b');
    const out = new Uint8Array(12).fill(0xff);
    for (const sequence of [0x01020304, 0, 1, 2 ** 40, 2 ** 53 - 1]) {
      assert.equal(writeRecordNonce(iv, sequence, out), out, 'written in place');
      assert.equal(toHex(out), toHex(recordNonce(iv, sequence)), `seq ${sequence}`);
    }
    assert.throws(() => writeRecordNonce(iv, 0, new Uint8Array(11)), /nonce buffer/);
  });

  it('every record of a sealer and an opener has its own nonce (each keeps one nonce buffer): 300 records of each type, retained frames unchanged by later seals', () => {
    const s = secret();
    const sealer = new RecordSealer(s);
    const opener = new RecordOpener(s);
    const kept: Array<{ frame: Buffer; copy: Buffer; expected: string }> = [];
    for (let sequence = 0; sequence < 300; sequence++) {
      const text = body(`record ${sequence}`);
      const type = sequence % 3 === 0 ? InnerType.CONTROL : InnerType.MUX;
      const frame = sequence % 5 === 4 ? sealer.sealAck(sequence) : Buffer.concat(sealer.sealParts(type, [text]));
      const plaintext = sequence % 5 === 4 ? [Uint8Array.of(InnerType.ACK), encodeCount(sequence)] : [Uint8Array.of(type), text];
      const expected = toHex(aesGcmSeal(s.key, recordNonce(s.iv, sequence), RECORD_AAD, plaintext));
      assert.equal(toHex(frame), expected, `record ${sequence}: sealed under nonce iv XOR ${sequence}`);
      kept.push({ frame, copy: Buffer.from(frame), expected });
    }
    for (const [sequence, { frame, copy }] of kept.entries()) {
      assert.ok(frame.equals(copy), `record ${sequence} unchanged after the later seals`);
      const opened = opener.open(frame);
      if (sequence % 5 === 4) assert.equal(opened.acknowledged, sequence, `record ${sequence}: the ACK's count`);
      else assert.equal(Buffer.from(opened.body).toString(), `record ${sequence}`, `record ${sequence} opens under its own nonce`);
    }
  });

  it('a record is AES-256-GCM(key, nonce, aad 0x01, type || body) and nothing else', () => {
    const s = secret();
    const sealer = new RecordSealer(s);
    sealer.seal(InnerType.MUX, body('first'));
    const frame = sealer.seal(InnerType.CONTROL, body('{"type":"x"}'));
    const expected = aesGcmSeal(s.key, recordNonce(s.iv, 1), RECORD_AAD, [Uint8Array.of(0x01), body('{"type":"x"}')]);
    assert.equal(toHex(frame), toHex(expected), 'record 1 bytes');
    assert.equal(toHex(RECORD_AAD), '01', 'aad');
  });

  it('a body given in parts seals to the same record as the same bytes in one piece', () => {
    const whole = new RecordSealer(secret()).seal(InnerType.MUX, body('header|payload|tail'));
    const parts = new RecordSealer(secret()).seal(InnerType.MUX, [body('header|'), body(''), body('payload|'), body('tail')]);
    assert.equal(toHex(parts), toHex(whole), 'same record bytes');
    const opened = new RecordOpener(secret()).open(parts);
    assert.equal(Buffer.from(opened.body).toString(), 'header|payload|tail');
  });

  it('sealParts: pieces that join to the record seal makes, for many-part and single-part bodies; earlier pieces stay as they were', () => {
    const sealer = new RecordSealer(secret());
    const reference = new RecordSealer(secret());
    const opener = new RecordOpener(secret());
    // Many 16 KiB + 9-byte parts, like HTTP/2 DATA frames, up to a full MUX record and past it;
    // one single-part body; all under one key.
    const sizes = [3 * 16_393, RECORD_MUX_CHUNK_BYTES, RECORD_MUX_CHUNK_BYTES + 1, 100_000];
    const kept: Array<{ pieces: Buffer[]; copy: Buffer; plain: Buffer }> = [];
    for (const [index, size] of sizes.entries()) {
      const plain = Buffer.alloc(size);
      for (let i = 0; i < size; i++) plain[i] = (i * 7 + index) & 0xff;
      const parts: Uint8Array[] = [];
      for (let at = 0; at < size; at += 16_393) parts.push(plain.subarray(at, Math.min(size, at + 9)), plain.subarray(Math.min(size, at + 9), Math.min(size, at + 16_393)));
      const pieces = sealer.sealParts(InnerType.MUX, index === 3 ? plain : parts);
      const joined = Buffer.concat(pieces);
      assert.equal(toHex(joined), toHex(reference.seal(InnerType.MUX, plain)), `record ${index}: the same bytes as sealing the body whole`);
      kept.push({ pieces, copy: joined, plain });
    }
    for (const [index, { pieces, copy, plain }] of kept.entries()) {
      assert.deepEqual(Buffer.concat(pieces), copy, `record ${index}'s pieces were not written again by later records`);
      assert.deepEqual(Buffer.from(opener.open(copy).body), plain, `record ${index} opens`);
    }
  });

  it('the size limit counts the whole body of a record given in parts', () => {
    const sealer = new RecordSealer(secret(), { maxFrameBytes: 1 + 16 + 10 });
    assert.throws(
      () => sealer.seal(InnerType.MUX, [body('123456'), body('78901')]),
      { code: 'KP_ERR_RECORD_TOO_LARGE' },
      'eleven bytes in two parts exceed a ten-byte limit',
    );
    assert.equal(sealer.sequence, 0, 'nothing was sealed');
  });

  it('opens records in order and returns their types and bodies', () => {
    const sealer = new RecordSealer(secret());
    const opener = new RecordOpener(secret());
    const a = opener.open(sealer.seal(InnerType.MUX, body('abc')));
    const b = opener.open(sealer.seal(InnerType.CONTROL, body('{}')));
    assert.equal(a.type, InnerType.MUX);
    assert.equal(Buffer.from(a.body).toString(), 'abc');
    assert.equal(b.type, InnerType.CONTROL);
    assert.equal(opener.sequence, 2, 'two records consumed');
  });

  it('key update: the last slot under a key is the KEY_UPDATE, then both sides use the next key', () => {
    const limit = 2 ** 24;
    const options = { initialSequence: limit - 3 };
    const sealer = new RecordSealer(secret(), options);
    const opener = new RecordOpener(secret(), options);
    const frames: Buffer[] = [];
    for (let i = 0; i < 6; i++) {
      if (sealer.keyUpdateDue) frames.push(sealer.sealKeyUpdate());
      frames.push(sealer.seal(InnerType.MUX, body(`m${i}`)));
    }
    assert.equal(frames.length, 7, 'six data records and one key update');
    const opened = frames.map((frame) => opener.open(frame));
    assert.deepEqual(
      opened.map((r) => r.type),
      [0, 0, 2, 0, 0, 0, 0],
      'KEY_UPDATE sits at sequence 2^24 - 1',
    );
    assert.deepEqual(
      opened.filter((r) => r.type === InnerType.MUX).map((r) => Buffer.from(r.body).toString()),
      ['m0', 'm1', 'm2', 'm3', 'm4', 'm5'],
    );
    // Records after the update are sealed with key' (and sequence restarts at 0).
    const next = nextTrafficSecret(secret());
    assert.equal(toHex(frames[3]!), toHex(aesGcmSeal(next.key, recordNonce(next.iv, 0), RECORD_AAD, [Uint8Array.of(0), body('m2')])));
  });

  it('refuses to seal past the limit without a key update', () => {
    const sealer = new RecordSealer(secret(), { keyUpdateLimit: 2 });
    sealer.seal(InnerType.MUX, body('only'));
    assert.ok(sealer.keyUpdateDue);
    assert.throws(() => sealer.seal(InnerType.MUX, body('one too many')), { code: 'KP_ERR_INTERNAL' });
  });
});

describe('ACK records and session-wide counts (docs/design.md §8.1)', () => {
  it('an ACK is AES-256-GCM of 0x03 || count as 8 bytes big-endian, 25 bytes in all', () => {
    const s = secret();
    const frame = new RecordSealer(s).sealAck(0x0102030405);
    assert.equal(frame.length, ACK_FRAME_BYTES, 'frame size');
    const expected = aesGcmSeal(s.key, recordNonce(s.iv, 0), RECORD_AAD, [hex('03 0000000102030405')]);
    assert.equal(toHex(frame), toHex(expected), 'ACK bytes');
    const opened = new RecordOpener(secret()).open(frame);
    assert.equal(opened.type, InnerType.ACK);
    assert.equal(opened.acknowledged, 0x0102030405, 'decoded count');
  });

  it('counts run across key updates: sealed and received are record numbers, ACKs and KEY_UPDATEs included', () => {
    const options = { keyUpdateLimit: 4 };
    const sealer = new RecordSealer(secret(), options);
    const opener = new RecordOpener(secret(), options);
    const types: number[] = [];
    for (let i = 0; i < 10; i++) {
      if (sealer.keyUpdateDue) types.push(opener.open(sealer.sealKeyUpdate()).type);
      types.push(opener.open(i % 3 === 0 ? sealer.sealAck(i) : sealer.seal(InnerType.MUX, body(`m${i}`))).type);
    }
    // Slots per key: 3 records + 1 KEY_UPDATE; 10 records need 3 key updates.
    assert.deepEqual(types, [3, 0, 0, 2, 3, 0, 0, 2, 3, 0, 0, 2, 3], 'record types in order');
    assert.equal(sealer.sealed, 13, 'sealed counts all 13 records');
    assert.equal(opener.received, 13, 'received counts all 13 records');
    assert.equal(sealer.sequence, 1, 'per-key sequence restarted');
  });

  it('skip() consumes ACK-only slots under the current key and never passes the key-update slot', () => {
    const options = { keyUpdateLimit: 8 };
    const sealer = new RecordSealer(secret(), options);
    const opener = new RecordOpener(secret(), options);
    opener.open(sealer.seal(InnerType.MUX, body('a')));
    sealer.sealAck(1);
    sealer.sealAck(1); // two ACKs the receiver never sees
    opener.skip(2);
    assert.equal(opener.received, 3, 'the skipped slots count as received');
    assert.equal(Buffer.from(opener.open(sealer.seal(InnerType.MUX, body('b'))).body).toString(), 'b', 'the next record opens');
    assert.throws(() => opener.skip(4), { code: 'KP_ERR_RESUME_COUNT' }, 'slot 7 is the KEY_UPDATE, not skippable');
  });

  it('Security: malformed ACK bodies and an ACK in the key-update slot are refused', () => {
    const s = secret();
    const sealed = (plaintext: string, sequence = 0): Buffer => aesGcmSeal(s.key, recordNonce(s.iv, sequence), RECORD_AAD, [hex(plaintext)]);
    const cases: Array<[string, Buffer, RecordOpener]> = [
      ['7-byte count', sealed('03 00000000000001'), new RecordOpener(secret())],
      ['9-byte count', sealed('03 000000000000000001'), new RecordOpener(secret())],
      ['count of 2^53', sealed('03 0020000000000000'), new RecordOpener(secret())],
      ['empty ACK', sealed('03'), new RecordOpener(secret())],
      ['ACK in the last slot', sealed('03 0000000000000001', 1), new RecordOpener(secret(), { keyUpdateLimit: 2, initialSequence: 1 })],
    ];
    for (const [name, frame, opener] of cases) {
      assert.throws(() => opener.open(frame), { code: 'KP_ERR_CHANNEL_PROTOCOL' }, name);
    }
    assert.throws(() => new RecordSealer(secret(), { keyUpdateLimit: 2, initialSequence: 1 }).sealAck(1), { code: 'KP_ERR_INTERNAL' }, 'sealer refuses too');
  });

  it('counts encode as 8 bytes big-endian and decode only below 2^53', () => {
    assert.equal(toHex(encodeCount(2 ** 53 - 1)), '001fffffffffffff');
    assert.equal(decodeCount(hex('001fffffffffffff')), 2 ** 53 - 1);
    assert.equal(decodeCount(hex('0020000000000000')), undefined);
    assert.equal(decodeCount(hex('ff00000000000000')), undefined);
    assert.throws(() => encodeCount(-1), { code: 'KP_ERR_INTERNAL' });
  });
});

describe('Security: record layer failures are fatal and typed', () => {
  it('a peer that seals a data record in the key-update slot is refused', () => {
    // A sealer configured with a higher limit than the opener models a peer ignoring the rule.
    const rogue = new RecordSealer(secret(), { keyUpdateLimit: 4 });
    const opener = new RecordOpener(secret(), { keyUpdateLimit: 2 });
    opener.open(rogue.seal(InnerType.MUX, body('ok')));
    assert.throws(() => opener.open(rogue.seal(InnerType.MUX, body('not allowed'))), { code: 'KP_ERR_CHANNEL_PROTOCOL' });
  });

  it('after one failure every later record is refused, even a valid one', () => {
    const sealer = new RecordSealer(secret());
    const opener = new RecordOpener(secret());
    const good = sealer.seal(InnerType.MUX, body('zero'));
    const bad = Uint8Array.from(good);
    bad[0]! ^= 0x80;
    assert.throws(() => opener.open(bad), { code: 'KP_ERR_RECORD_INTEGRITY' });
    assert.throws(() => opener.open(good), { code: 'KP_ERR_RECORD_INTEGRITY' }, 'the valid record is refused too');
  });

  it('short, oversized, unknown-type and empty-MUX records get their own codes', () => {
    assert.throws(() => new RecordOpener(secret()).open(new Uint8Array(16)), { code: 'KP_ERR_RECORD_INTEGRITY' });
    assert.throws(() => new RecordOpener(secret(), { maxFrameBytes: 64 }).open(new Uint8Array(65)), {
      code: 'KP_ERR_RECORD_TOO_LARGE',
    });
    const s = secret();
    const unknown = aesGcmSeal(s.key, recordNonce(s.iv, 0), RECORD_AAD, [Uint8Array.of(0x07), body('x')]);
    assert.throws(() => new RecordOpener(secret()).open(unknown), { code: 'KP_ERR_CHANNEL_PROTOCOL' });
    const emptyMux = aesGcmSeal(s.key, recordNonce(s.iv, 0), RECORD_AAD, [Uint8Array.of(0x00)]);
    assert.throws(() => new RecordOpener(secret()).open(emptyMux), { code: 'KP_ERR_CHANNEL_PROTOCOL' });
    const updateWithBody = aesGcmSeal(s.key, recordNonce(s.iv, 0), RECORD_AAD, [Uint8Array.of(0x02), body('x')]);
    assert.throws(() => new RecordOpener(secret()).open(updateWithBody), { code: 'KP_ERR_CHANNEL_PROTOCOL' });
  });

  it('wiping zeroes the keys and makes the sealer unusable', () => {
    const sealer = new RecordSealer(secret());
    sealer.wipe();
    assert.throws(() => sealer.seal(InnerType.MUX, body('x')), { code: 'KP_ERR_CHANNEL_CLOSED' });
  });

  it('options are validated', () => {
    assert.throws(() => new RecordSealer(secret(), { keyUpdateLimit: 1 }), { code: 'KP_ERR_INVALID_ARGUMENT' });
    assert.throws(() => new RecordSealer(secret(), { keyUpdateLimit: 2 ** 24 + 1 }), { code: 'KP_ERR_INVALID_ARGUMENT' });
    assert.throws(() => new RecordSealer(secret(), { initialSequence: 2 ** 24 }), { code: 'KP_ERR_INVALID_ARGUMENT' });
    assert.throws(() => new RecordSealer({ key: new Uint8Array(16), iv: new Uint8Array(12) }), { code: 'KP_ERR_INVALID_ARGUMENT' });
  });
});
