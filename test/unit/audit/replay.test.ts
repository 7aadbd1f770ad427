/**
 * `kubepair audit play`'s reader (src/audit/replay.ts): output events in order, markers reported,
 * input and resizes not replayed, `inert` output made visible; a recording cut by a failed write
 * plays up to the cut and says so; a file that is not asciicast v2 is refused with its code.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { replayRecording } from '../../../src/audit/replay.js';

const HEADER = '{"version":2,"width":80,"height":24}\n';

describe('audit play (replayRecording)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubepair-replay-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function play(name: string, text: string, inert = false): Promise<{ out: string; notices: string[] }> {
    const path = join(dir, name);
    await writeFile(path, text);
    let out = '';
    const notices: string[] = [];
    await replayRecording(path, { speed: 1000, idleLimitS: 0, inert, write: (chunk) => (out += chunk), notice: (_, note) => notices.push(note) });
    return { out, notices };
  }

  it('replays output events in order; input and resizes are not replayed; markers are reported', async () => {
    const { out, notices } = await play('plain.cast', `${HEADER}[0.1,"o","one "]\n[0.2,"i","typed\\n"]\n[0.3,"r","100x30"]\n[0.4,"o","two\\r\\n"]\n[0.5,"m","recording stopped: why"]\n`);
    assert.equal(out, 'one two\r\n');
    assert.deepEqual(notices, ['recording stopped: why']);
  });

  it('Security: --inert shows escape sequences and control characters as visible escapes, keeping lines', async () => {
    const { out } = await play('hostile.cast', `${HEADER}[0.1,"o","\\u001b]0;pwned\\u0007red\\u001b[31m\\r\\nnext\\rover"]\n`, true);
    assert.equal(out, '\\x1b]0;pwned\\x07red\\x1b[31m\nnext\\x0dover');
  });

  it('a recording cut by a failed write plays up to the cut and says so', async () => {
    const { out, notices } = await play('cut.cast', `${HEADER}[0.1,"o","kept"]\n[0.2,"o","lo`);
    assert.equal(out, 'kept');
    assert.match(notices[0] ?? '', /line 3 is cut off/);
  });

  const invalid: ReadonlyArray<{ id: string; text: string }> = [
    { id: 'empty file', text: '' },
    { id: 'version 1', text: '{"version":1,"width":80,"height":24}\n' },
    { id: 'no size', text: '{"version":2}\n' },
    { id: 'not JSON', text: 'hello\n' },
    { id: 'bad event code', text: `${HEADER}[0.1,"x","?"]\n` },
    { id: 'negative time', text: `${HEADER}[-1,"o","?"]\n` },
    { id: 'not UTF-8', text: `${HEADER}[0.1,"o","\xff"]\n` },
  ];
  for (const bad of invalid) {
    it(`refuses ${bad.id} with KP_ERR_RECORDING_INVALID`, async () => {
      const path = join(dir, `bad-${bad.id.replace(/\W/g, '-')}.cast`);
      await writeFile(path, bad.id === 'not UTF-8' ? Buffer.concat([Buffer.from(HEADER), Buffer.from([0x5b, 0xff, 0x0a])]) : bad.text);
      await assert.rejects(replayRecording(path, { speed: 1, idleLimitS: 0, inert: false, write: () => undefined, notice: () => undefined }), { code: 'KP_ERR_RECORDING_INVALID' }, bad.id);
    });
  }
});
