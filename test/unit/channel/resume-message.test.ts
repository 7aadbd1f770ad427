/** RESUME messages (docs/design.md §8.1, docs/protocol.md §7.3): layout, MAC, and refusal of forged input. */
import assert from 'node:assert/strict';
import { createHmac, randomBytes, randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import type { ResumeMessage } from '../../../src/channel/resume-message.js';
import { RESUME_FRAME_BYTES, encodeResume, isResumeFrame, openResume } from '../../../src/channel/resume-message.js';
import { KubepairError } from '../../../src/errors/index.js';
import { hex, toHex } from '../../helpers/vectors.js';

const key = Uint8Array.from({ length: 32 }, (_, i) => i);
const sid = hex('a0a1a2a3a4a5a6a7a8a9aaabacadaeaf');
const message: ResumeMessage = { role: 'agent', generation: 2, answers: 1, received: 0x0102, retainedFrom: 0x0300, sealed: 0x0304 };

describe('RESUME message layout', () => {
  it('is 0x01 0x05 | sid | role | generation | answers | received | retained from | sealed | HMAC, 91 bytes', () => {
    const frame = encodeResume(key, sid, message);
    const signed =
      '0105' +
      'a0a1a2a3a4a5a6a7a8a9aaabacadaeaf' +
      '01' +
      '0000000000000002' +
      '0000000000000001' +
      '0000000000000102' +
      '0000000000000300' +
      '0000000000000304';
    const mac = createHmac('sha256', key).update(hex(signed)).digest('hex');
    assert.equal(RESUME_FRAME_BYTES, 91);
    assert.equal(toHex(frame), signed + mac, 'exact bytes');
    assert.equal(encodeResume(key, sid, { ...message, role: 'client' })[18], 0x02, 'client role byte');
  });

  it('round-trips, and is recognised only with this session id and size', () => {
    const frame = encodeResume(key, sid, message);
    assert.deepEqual(openResume(frame, key, sid, 'agent'), message);
    assert.ok(isResumeFrame(frame, sid));
    const otherSid = Uint8Array.from(sid);
    otherSid[15]! ^= 1;
    assert.ok(!isResumeFrame(frame, otherSid), 'another session id');
    assert.ok(!isResumeFrame(frame.subarray(0, 90), sid), '90 bytes');
    assert.ok(!isResumeFrame(Buffer.concat([frame, Buffer.of(0)]), sid), '92 bytes');
    assert.ok(!isResumeFrame(Uint8Array.of(1, 4, ...frame.subarray(2)), sid), 'type 0x04');
  });
});

describe('Security: forged RESUME messages', () => {
  it('a change to any byte is refused with KP_ERR_RESUME_PROOF (or is no longer a RESUME of this session)', () => {
    const frame = encodeResume(key, sid, message);
    for (let i = 0; i < frame.length; i++) {
      const changed = Uint8Array.from(frame);
      changed[i]! ^= 0x01;
      if (!isResumeFrame(changed, sid)) {
        assert.ok(i < 18, `byte ${i}: only the public header can make it another frame`);
        continue;
      }
      assert.throws(() => openResume(changed, key, sid, 'agent'), { code: 'KP_ERR_RESUME_PROOF' }, `byte ${i}`);
    }
  });

  it('counts or generation shifted by one, a random MAC, or another key: KP_ERR_RESUME_PROOF', () => {
    const genuine = encodeResume(key, sid, message);
    const withField = (offset: number, delta: number): Uint8Array => {
      const changed = Uint8Array.from(genuine);
      const view = new DataView(changed.buffer);
      view.setBigUint64(offset, view.getBigUint64(offset) + BigInt(delta));
      return changed;
    };
    const cases: Array<[string, Uint8Array]> = [
      ['generation + 1', withField(19, 1)],
      ['answers - 1', withField(27, -1)],
      ['received + 1', withField(35, 1)],
      ['received - 1', withField(35, -1)],
      ['retained from + 1', withField(43, 1)],
      ['sealed - 1', withField(51, -1)],
      ['random MAC', Uint8Array.from([...genuine.subarray(0, 59), ...randomBytes(32)])],
      ['MAC under another session key', encodeResume(randomBytes(32), sid, message)],
    ];
    for (const [name, frame] of cases) {
      assert.throws(() => openResume(frame, key, sid, 'agent'), { code: 'KP_ERR_RESUME_PROOF' }, name);
    }
  });

  it('a genuine RESUME reflected to its own sender is refused (the role byte is under the MAC)', () => {
    const own = encodeResume(key, sid, { ...message, role: 'client' });
    assert.throws(() => openResume(own, key, sid, 'agent'), (err) => err instanceof KubepairError && err.code === 'KP_ERR_RESUME_PROOF' && /reflected/.test(err.message));
  });

  it('fields of 2^53 or more and generation 0 are refused with KP_ERR_RESUME_COUNT', () => {
    const huge = encodeResume(key, sid, message);
    const fields = Uint8Array.from(huge.subarray(0, 59));
    fields[35] = 0x20; // received >= 2^53
    const forged = Uint8Array.from([...fields, ...createHmac('sha256', key).update(fields).digest()]);
    assert.throws(() => openResume(forged, key, sid, 'agent'), { code: 'KP_ERR_RESUME_COUNT' });
    const zero = Uint8Array.from(huge.subarray(0, 59));
    zero.fill(0, 19, 27);
    assert.throws(() => openResume(Uint8Array.from([...zero, ...createHmac('sha256', key).update(zero).digest()]), key, sid, 'agent'), {
      code: 'KP_ERR_RESUME_COUNT',
    });
    assert.throws(() => encodeResume(key, sid, { ...message, generation: 0 }), { code: 'KP_ERR_INTERNAL' });
  });

  it('random frames with the RESUME header produce only KP_ERR_RESUME_PROOF', () => {
    for (let i = 0; i < 500; i++) {
      const frame = Uint8Array.from([1, 5, ...sid, ...randomBytes(RESUME_FRAME_BYTES - 18)]);
      if (i % 2 === 0) frame[18] = 1 + randomInt(0, 2);
      assert.throws(() => openResume(frame, key, sid, 'agent'), (err) => err instanceof KubepairError && err.code === 'KP_ERR_RESUME_PROOF', `#${i}`);
    }
  });
});
