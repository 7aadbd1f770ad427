/**
 * Every parser of untrusted channel input, fed valid inputs, handcrafted bad inputs and random
 * bytes (bounded count): only typed KubepairErrors come out (docs/design.md §4, CONVENTIONS §6).
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import { decodeAssociatedData, encodeAssociatedData } from '../../../src/channel/associated-data.js';
import { decodeControlMessage, encodeControlMessage } from '../../../src/channel/control-message.js';
import {
  HandshakeType,
  decodeConfirm,
  decodeHello,
  encodeConfirm,
  encodeHello,
} from '../../../src/channel/handshake-messages.js';
import { parsePairingCode } from '../../../src/channel/pairing-code.js';
import { RecordOpener } from '../../../src/crypto/records.js';
import type { ErrorCode } from '../../../src/errors/index.js';
import { KubepairError } from '../../../src/errors/index.js';

const ROUNDS = 2000;
const share = Buffer.from('1d13c89278cdadd826f6d8d7f887701430f8380ddc17611cdd6dc989ce0c9f32', 'hex');

/** Run `parse` on `input`; it may return, or throw a KubepairError with one of `codes`. */
function expectOnlyTypedErrors(name: string, codes: readonly ErrorCode[], parse: () => unknown): void {
  try {
    parse();
  } catch (err) {
    assert.ok(err instanceof KubepairError, `${name}: threw ${String(err)} instead of a KubepairError`);
    assert.ok(codes.includes(err.code), `${name}: unexpected code ${err.code}`);
  }
}

function randomFrame(maxLength: number): Buffer {
  return randomBytes(randomInt(0, maxLength + 1));
}

describe('handshake message parsers', () => {
  it('round-trip HELLO and CONFIRM frames', () => {
    const ad = encodeAssociatedData('agent', ['mux.h2']);
    const hello = decodeHello(encodeHello(HandshakeType.HELLO_A, share, ad), HandshakeType.HELLO_A);
    assert.deepEqual([...hello.share], [...share]);
    assert.deepEqual(decodeAssociatedData(hello.ad, 'agent'), { v: 1, role: 'agent', caps: ['mux.h2'] });
    const tag = randomBytes(32);
    assert.deepEqual([...decodeConfirm(encodeConfirm(HandshakeType.CONFIRM_B, tag), HandshakeType.CONFIRM_B)], [...tag]);
  });

  it('refuses wrong versions, types, lengths and shares with precise codes', () => {
    const ad = encodeAssociatedData('client', []);
    const hello = encodeHello(HandshakeType.HELLO_B, share, ad);
    const cases: Array<[string, () => unknown, ErrorCode]> = [
      ['empty frame', () => decodeHello(new Uint8Array(0), HandshakeType.HELLO_B), 'KP_ERR_HANDSHAKE_PROTOCOL'],
      ['version 2', () => decodeHello(Uint8Array.of(2, ...hello.subarray(1)), HandshakeType.HELLO_B), 'KP_ERR_HANDSHAKE_PROTOCOL'],
      ['HELLO_A where HELLO_B expected', () => decodeHello(hello, HandshakeType.HELLO_A), 'KP_ERR_HANDSHAKE_PROTOCOL'],
      ['no AD', () => decodeHello(hello.subarray(0, 34), HandshakeType.HELLO_B), 'KP_ERR_HANDSHAKE_PROTOCOL'],
      ['AD over 1 KiB', () => decodeHello(Buffer.concat([hello.subarray(0, 34), Buffer.alloc(1025, 0x20)]), HandshakeType.HELLO_B), 'KP_ERR_HANDSHAKE_PROTOCOL'],
      ['share with bit 255', () => decodeHello(Buffer.concat([hello.subarray(0, 33), Buffer.of(0x80), hello.subarray(34)]), HandshakeType.HELLO_B), 'KP_ERR_INVALID_PUBLIC_SHARE'],
      ['CONFIRM of 33 bytes', () => decodeConfirm(new Uint8Array(33).fill(1).fill(3, 1, 2), HandshakeType.CONFIRM_A), 'KP_ERR_HANDSHAKE_PROTOCOL'],
      ['CONFIRM_B where CONFIRM_A expected', () => decodeConfirm(encodeConfirm(HandshakeType.CONFIRM_B, randomBytes(32)), HandshakeType.CONFIRM_A), 'KP_ERR_HANDSHAKE_PROTOCOL'],
    ];
    for (const [name, run, code] of cases) assert.throws(run, (err) => err instanceof KubepairError && err.code === code, name);
  });

  it('random bytes produce only the typed handshake errors', () => {
    for (let i = 0; i < ROUNDS; i++) {
      const frame = randomFrame(1100);
      if (i % 2 === 0 && frame.length >= 2) {
        frame[0] = 1;
        frame[1] = 1 + (i % 4);
      }
      const codes: ErrorCode[] = ['KP_ERR_HANDSHAKE_PROTOCOL', 'KP_ERR_INVALID_PUBLIC_SHARE'];
      expectOnlyTypedErrors(`hello #${i}`, codes, () => decodeHello(frame, HandshakeType.HELLO_A));
      expectOnlyTypedErrors(`confirm #${i}`, codes, () => decodeConfirm(frame, HandshakeType.CONFIRM_A));
    }
  });
});

describe('associated data (ADa / ADb)', () => {
  it('refuses extra fields, wrong roles, bad caps, invalid UTF-8 and oversize input', () => {
    const enc = (value: unknown): Uint8Array => Buffer.from(JSON.stringify(value));
    const cases: Array<[string, Uint8Array]> = [
      ['extra field', enc({ v: 1, role: 'agent', caps: [], extra: true })],
      ['version 2', enc({ v: 2, role: 'agent', caps: [] })],
      ['role client where agent expected', enc({ v: 1, role: 'client', caps: [] })],
      ['cap with spaces', enc({ v: 1, role: 'agent', caps: ['a b'] })],
      ['33 caps', enc({ v: 1, role: 'agent', caps: Array.from({ length: 33 }, (_, i) => `c${i}`) })],
      ['not JSON', Buffer.from('{v:1')],
      ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0x7d])],
      ['empty', new Uint8Array(0)],
      ['1025 bytes', Buffer.alloc(1025, 0x20)],
      ['array', enc([1, 2])],
    ];
    for (const [name, bytes] of cases) {
      assert.throws(() => decodeAssociatedData(bytes, 'agent'), (err) => err instanceof KubepairError && err.code === 'KP_ERR_HANDSHAKE_PROTOCOL', name);
    }
  });

  it('random bytes produce only KP_ERR_HANDSHAKE_PROTOCOL', () => {
    for (let i = 0; i < ROUNDS; i++) {
      expectOnlyTypedErrors(`AD #${i}`, ['KP_ERR_HANDSHAKE_PROTOCOL'], () => decodeAssociatedData(randomFrame(1100), 'client'));
    }
  });
});

describe('control messages', () => {
  it('round-trip, and refuse a missing type, non-objects and oversize records', () => {
    assert.deepEqual(decodeControlMessage(encodeControlMessage({ type: 'session', x: 1 })), { type: 'session', x: 1 });
    for (const [name, text] of [
      ['no type', '{"x":1}'],
      ['numeric type', '{"type":1}'],
      ['string', '"session"'],
      ['null', 'null'],
      ['upper-case type', '{"type":"SESSION"}'],
    ] as const) {
      assert.throws(() => decodeControlMessage(Buffer.from(text)), (err) => err instanceof KubepairError && err.code === 'KP_ERR_CHANNEL_PROTOCOL', name);
    }
    assert.throws(() => decodeControlMessage(Buffer.alloc(64 * 1024 + 1, 0x20)), (err) => err instanceof KubepairError && err.code === 'KP_ERR_CHANNEL_PROTOCOL');
    assert.throws(() => encodeControlMessage({ type: 'big', pad: 'x'.repeat(64 * 1024) }), (err) => err instanceof KubepairError && err.code === 'KP_ERR_INVALID_ARGUMENT');
  });

  it('random bytes produce only KP_ERR_CHANNEL_PROTOCOL', () => {
    for (let i = 0; i < ROUNDS; i++) {
      expectOnlyTypedErrors(`control #${i}`, ['KP_ERR_CHANNEL_PROTOCOL'], () => decodeControlMessage(randomFrame(300)));
    }
  });
});

describe('record opener and pairing-code parser on random input', () => {
  it('random frames produce only the typed record errors', () => {
    for (let i = 0; i < ROUNDS; i++) {
      const opener = new RecordOpener({ key: randomBytes(32), iv: randomBytes(12) }, { maxFrameBytes: 4096 });
      expectOnlyTypedErrors(`record #${i}`, ['KP_ERR_RECORD_INTEGRITY', 'KP_ERR_RECORD_TOO_LARGE'], () => opener.open(randomFrame(5000)));
    }
  });

  it('random strings produce only KP_ERR_PAIRING_CODE_MALFORMED', () => {
    const alphabet = '0123456789-  \t\u2013abcOl\u0000\u00a0７';
    for (let i = 0; i < ROUNDS; i++) {
      const length = randomInt(0, 80);
      const input = Array.from({ length }, () => alphabet[randomInt(0, alphabet.length)]).join('');
      expectOnlyTypedErrors(`code #${i} ${JSON.stringify(input)}`, ['KP_ERR_PAIRING_CODE_MALFORMED'], () => parsePairingCode(input));
      const raw = randomBytes(randomInt(0, 80)).toString('latin1');
      expectOnlyTypedErrors(`raw code #${i}`, ['KP_ERR_PAIRING_CODE_MALFORMED'], () => parsePairingCode(raw));
    }
  });
});
