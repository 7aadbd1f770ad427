/**
 * Recording exec/attach sessions from the spliced bytes (src/audit/websocket-frames.ts,
 * terminal-recorder.ts, session-recording.ts): a storm of random frame splits and fragmentations
 * still records exactly the payloads that crossed, typed input is redacted line by line, and
 * hostile frames stop the recording loudly (a marker, an error code) without holding their bytes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseEvent, parseHeader } from '../../../src/audit/asciicast.js';
import type { AsciicastEvent } from '../../../src/audit/asciicast.js';
import { sha256Hex } from '../../../src/audit/chain.js';
import { PASSWORD_LINE_REDACTED } from '../../../src/audit/password-prompt.js';
import { SessionRecording } from '../../../src/audit/session-recording.js';
import { TerminalRecorder } from '../../../src/audit/terminal-recorder.js';
import { WebSocketFrameReader } from '../../../src/audit/websocket-frames.js';
import { RECORDING_INPUT_LINE_MAX_CHARS } from '../../../src/limits.js';

/** A small deterministic PRNG (mulberry32), so a failing case can be replayed by its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One WebSocket frame (RFC 6455 §5.2), masked when `mask` is given. */
function frame(opcode: number, payload: Buffer, options: { fin?: boolean; mask?: Buffer; rsv?: number; length?: bigint } = {}): Buffer {
  const fin = options.fin ?? true;
  const length = options.length ?? BigInt(payload.length);
  const first = (fin ? 0x80 : 0) | ((options.rsv ?? 0) << 4) | opcode;
  const maskBit = options.mask !== undefined ? 0x80 : 0;
  let head: Buffer;
  if (length < 126n) head = Buffer.from([first, maskBit | Number(length)]);
  else if (length < 65536n) {
    head = Buffer.alloc(4);
    head[0] = first;
    head[1] = maskBit | 126;
    head.writeUInt16BE(Number(length), 2);
  } else {
    head = Buffer.alloc(10);
    head[0] = first;
    head[1] = maskBit | 127;
    head.writeBigUInt64BE(length, 2);
  }
  if (options.mask === undefined) return Buffer.concat([head, payload]);
  const masked = Buffer.from(payload.map((byte, i) => byte ^ options.mask![i & 3]!));
  return Buffer.concat([head, options.mask, masked]);
}

/** Cut `bytes` at random places (pieces of 0..maxPiece bytes, empty ones included). */
function randomPieces(bytes: Buffer, random: () => number, maxPiece: number): Buffer[] {
  const pieces: Buffer[] = [];
  let at = 0;
  while (at < bytes.length) {
    const size = Math.floor(random() * (maxPiece + 1));
    pieces.push(bytes.subarray(at, at + size));
    at += size;
  }
  return pieces;
}

/** A channel message as random fragments, with pings and pongs between them. */
function fragmentedMessage(channel: number, data: Buffer, random: () => number, maskFor: (() => Buffer) | undefined): Buffer[] {
  const message = Buffer.concat([Buffer.from([channel]), data]);
  const frames: Buffer[] = [];
  let at = 0;
  let first = true;
  do {
    const size = Math.min(message.length - at, Math.floor(random() * 40));
    const last = at + size >= message.length;
    const mask = maskFor?.();
    frames.push(frame(first ? 0x2 : 0x0, message.subarray(at, at + size), { fin: last, ...(mask !== undefined && { mask }) }));
    if (random() < 0.3) {
      const ping = maskFor?.();
      frames.push(frame(random() < 0.5 ? 0x9 : 0xa, Buffer.from('x'.repeat(Math.floor(random() * 126))), { ...(ping !== undefined && { mask: ping }) }));
    }
    first = false;
    at += size;
  } while (at < message.length);
  return frames;
}

async function readCast(path: string): Promise<{ header: unknown; events: AsciicastEvent[] }> {
  const lines = (await readFile(path, 'utf8')).split('\n').filter((line) => line !== '');
  const header = parseHeader(lines[0]!);
  const events = lines.slice(1).map((line) => {
    const event = parseEvent(line);
    assert.ok(!('problem' in event), `event line ${line}`);
    return event;
  });
  return { header, events };
}

function joined(events: readonly AsciicastEvent[], code: string): string {
  return events.filter((event) => event.code === code).map((event) => event.data).join('');
}

const HEADER = { version: 2, width: 80, height: 24 } as const;

describe('terminal recorder', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubepair-recorder-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('a storm of random splits and fragmentations records exactly the stdout, stderr and typed bytes that crossed', async () => {
    for (let seed = 1; seed <= 60; seed++) {
      const random = prng(seed);
      const recording = SessionRecording.create(dir, `storm-${seed}`, HEADER);
      const recorder = new TerminalRecorder(recording, { input: true });
      let expectedOut = '';
      let expectedIn = '';
      const serverFrames: Buffer[] = [];
      const clientFrames: Buffer[] = [];
      const mask = (): Buffer => Buffer.from([0, 1, 2, 3].map(() => Math.floor(random() * 256)));
      for (let m = 0; m < 20; m++) {
        // Multi-byte characters too, so a character split across frames must stay whole.
        const text = Array.from({ length: Math.floor(random() * 60) }, () => ['a', 'é', '€', '😀', '\r\n', '\x1b[1m'][Math.floor(random() * 6)]).join('');
        expectedOut += text;
        serverFrames.push(...fragmentedMessage(random() < 0.5 ? 1 : 2, Buffer.from(text), random, undefined));
        const typed = `${'k'.repeat(Math.floor(random() * 10))}\n`;
        expectedIn += typed;
        clientFrames.push(...fragmentedMessage(0, Buffer.from(typed), random, mask));
      }
      // stdout and stderr each keep their own decoder: only one of them is used per character,
      // so the order of output is the order of the messages.
      for (const piece of randomPieces(Buffer.concat(serverFrames), random, 17)) recorder.fromServer(piece);
      for (const piece of randomPieces(Buffer.concat(clientFrames), random, 23)) recorder.fromClient(piece);
      const summary = recorder.finish();
      assert.equal(recorder.error, undefined, `seed ${seed}: no error`);
      const { events } = await readCast(recording.path);
      assert.equal(joined(events, 'o'), expectedOut, `seed ${seed}: output`);
      assert.equal(joined(events, 'i'), expectedIn, `seed ${seed}: input`);
      const bytes = await readFile(recording.path);
      assert.deepEqual([summary.bytes, summary.sha256], [bytes.length, sha256Hex(bytes)], `seed ${seed}: summary`);
    }
  });

  it('the file is created exclusively with mode 0600 and starts with an asciicast v2 header', async () => {
    const recording = SessionRecording.create(dir, 'mode', { ...HEADER, timestamp: 1_700_000_000, title: 'kubectl exec default/web' });
    recording.finish();
    assert.equal((await stat(recording.path)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'recordings'))).mode & 0o777, 0o700);
    const { header } = await readCast(recording.path);
    assert.deepEqual(header, { version: 2, width: 80, height: 24, timestamp: 1_700_000_000, title: 'kubectl exec default/web' });
    assert.throws(() => SessionRecording.create(dir, 'mode', HEADER), { code: 'KP_ERR_RECORDING_WRITE' });
  });

  it('resize messages become r events; typed secrets are redacted line by line; input is not recorded unless asked', async () => {
    const recording = SessionRecording.create(dir, 'resize', HEADER);
    const recorder = new TerminalRecorder(recording, { input: true });
    const mask = Buffer.from([9, 8, 7, 6]);
    recorder.fromClient(frame(2, Buffer.concat([Buffer.from([4]), Buffer.from('{"Width":132,"Height":43}')]), { mask }));
    recorder.fromClient(frame(2, Buffer.concat([Buffer.from([0]), Buffer.from('export DB_PASSWORD=')]), { mask }));
    recorder.fromClient(frame(2, Buffer.concat([Buffer.from([0]), Buffer.from('hunter2\r')]), { mask }));
    // A secret after a one-letter flag, typed in two frames split inside the secret.
    recorder.fromClient(frame(2, Buffer.concat([Buffer.from([0]), Buffer.from('mysql -uroot -phun')]), { mask }));
    recorder.fromClient(frame(2, Buffer.concat([Buffer.from([0]), Buffer.from('ter2 app\r')]), { mask }));
    recorder.finish();
    const { events } = await readCast(recording.path);
    assert.deepEqual(events.filter((e) => e.code === 'r').map((e) => e.data), ['132x43']);
    assert.equal(joined(events, 'i'), 'export DB_PASSWORD=[REDACTED]\rmysql -uroot -p[REDACTED] app\r');

    const quiet = SessionRecording.create(dir, 'no-input', HEADER);
    const outputOnly = new TerminalRecorder(quiet, { input: false });
    outputOnly.fromClient(frame(2, Buffer.from('\x00typed\n'), { mask }));
    outputOnly.fromServer(frame(2, Buffer.from('\x01shown\n')));
    outputOnly.finish();
    const recorded = await readCast(quiet.path);
    assert.deepEqual(recorded.events.map((e) => [e.code, e.data]), [['o', 'shown\n']]);
  });
});

describe('Security: hostile WebSocket frames against the recorder', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubepair-recorder-hostile-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const mask = Buffer.from([1, 2, 3, 4]);

  const hostile: ReadonlyArray<{ id: string; bytes: Buffer; reason: RegExp }> = [
    { id: 'unmasked client frame', bytes: frame(2, Buffer.from('\x00ls\n')), reason: /not masked/ },
    { id: 'reserved opcode 3', bytes: frame(3, Buffer.from('x'), { mask }), reason: /reserved opcode 3/ },
    { id: 'reserved opcode 11', bytes: frame(11, Buffer.alloc(0), { mask }), reason: /reserved opcode 11/ },
    { id: 'RSV1 (compression never negotiated)', bytes: frame(2, Buffer.from('\x00x'), { mask, rsv: 4 }), reason: /RSV/ },
    { id: 'oversized ping', bytes: frame(9, Buffer.alloc(126), { mask }), reason: /control frame announces more than 125/ },
    { id: 'fragmented close', bytes: frame(8, Buffer.alloc(2), { mask, fin: false }), reason: /control frame is fragmented/ },
    { id: 'continuation without a message', bytes: frame(0, Buffer.from('x'), { mask }), reason: /continuation frame/ },
    { id: 'length beyond 2^53', bytes: frame(2, Buffer.alloc(0), { mask, length: 2n ** 60n }), reason: /beyond 2\^53/ },
    {
      id: 'new message inside a fragmented one',
      bytes: Buffer.concat([frame(2, Buffer.from('\x00a'), { mask, fin: false }), frame(2, Buffer.from('\x00b'), { mask })]),
      reason: /new message started inside/,
    },
  ];
  for (const attack of hostile) {
    it(`${attack.id}: the recording stops with KP_ERR_RECORDING_STREAM and says so in the file`, async () => {
      const recording = SessionRecording.create(dir, `hostile-${attack.id.replace(/[^a-z0-9]/gi, '-')}`, HEADER);
      const failures: string[] = [];
      const recorder = new TerminalRecorder(recording, { input: true, onFailure: (err) => failures.push(err.code) });
      recorder.fromClient(attack.bytes);
      recorder.fromClient(frame(2, Buffer.from('\x00after\n'), { mask }));
      recorder.finish();
      assert.equal(recorder.error?.code, 'KP_ERR_RECORDING_STREAM', attack.id);
      assert.match(recorder.error?.message ?? '', attack.reason, attack.id);
      assert.deepEqual(failures, ['KP_ERR_RECORDING_STREAM'], `${attack.id}: reported once`);
      const { events } = await readCast(recording.path);
      assert.ok(events.some((e) => e.code === 'm' && e.data.startsWith('recording stopped:')), `${attack.id}: a marker names the stop`);
      assert.equal(joined(events, 'i'), '', `${attack.id}: nothing after the bad frame is recorded as if it were fine`);
    });
  }

  it('a frame announcing 2^53 - 1 bytes is streamed, never held: every payload byte is reported as it arrives', () => {
    let reported = 0;
    let errors = 0;
    const reader = new WebSocketFrameReader('client', { messageStart: () => undefined, data: (bytes) => (reported += bytes.length), messageEnd: () => undefined, error: () => errors++ });
    reader.push(frame(2, Buffer.alloc(0), { mask, length: 2n ** 53n - 1n }));
    const piece = Buffer.alloc(64 * 1024, 0x41);
    for (let i = 0; i < 128; i++) {
      reader.push(piece);
      assert.equal(reported, (i + 1) * piece.length, `piece ${i}: reported at once`);
    }
    assert.equal(errors, 0);
  });

  it('an endless typed line without a line end is recorded in bounded pieces, not held', async () => {
    const recording = SessionRecording.create(dir, 'endless-line', HEADER);
    const recorder = new TerminalRecorder(recording, { input: true });
    recorder.fromClient(frame(2, Buffer.from([0]), { mask, fin: false }));
    const chunk = Buffer.alloc(1000, 0x61);
    for (let i = 0; i < 50; i++) recorder.fromClient(frame(0, chunk, { mask, fin: false }));
    const { events } = await readCast(recording.path);
    const inputs = events.filter((e) => e.code === 'i');
    assert.ok(inputs.length >= Math.floor(50_000 / RECORDING_INPUT_LINE_MAX_CHARS), 'recorded while it streams');
    assert.ok(inputs.every((e) => e.data.length <= RECORDING_INPUT_LINE_MAX_CHARS));
    recorder.finish();
    assert.equal(joined((await readCast(recording.path)).events, 'i'), 'a'.repeat(50_000));
  });

  it('output past the size bound stops the recording with KP_ERR_RECORDING_LIMIT and a marker, within the bound', async () => {
    const maxBytes = 8 * 1024;
    const recording = SessionRecording.create(dir, 'limit', HEADER, maxBytes);
    const recorder = new TerminalRecorder(recording, { input: false });
    for (let i = 0; i < 100; i++) recorder.fromServer(frame(2, Buffer.concat([Buffer.from([1]), Buffer.alloc(200, 0x62)])));
    const summary = recorder.finish();
    assert.equal(recorder.error?.code, 'KP_ERR_RECORDING_LIMIT');
    assert.ok(summary.bytes <= maxBytes, `${summary.bytes} <= ${maxBytes}`);
    const { events } = await readCast(recording.path);
    assert.match(events.at(-1)?.data ?? '', /recording stopped: .*limit/);
  });
});

describe('typed lines at a password prompt (the pty does not echo them)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubepair-recorder-prompt-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  const mask = Buffer.from([5, 6, 7, 8]);
  /** What the client types, as kubectl sends it: one message per keystroke. */
  const keystrokes = (text: string): Buffer[] => Array.from(text).map((key) => frame(2, Buffer.from(`\x00${key}`), { mask }));
  const typed = (text: string): Buffer => frame(2, Buffer.from(`\x00${text}`), { mask });
  const shown = (text: string, channel = 1): Buffer => frame(2, Buffer.concat([Buffer.from([channel]), Buffer.from(text)]));

  /** A recorder fed `steps` in order: `out` from the API server, `in` from the client. */
  async function record(name: string, steps: ReadonlyArray<{ out: string | Buffer } | { in: Buffer | readonly Buffer[] }>): Promise<{ inputs: string[]; file: string }> {
    const recording = SessionRecording.create(dir, name, HEADER);
    const recorder = new TerminalRecorder(recording, { input: true });
    for (const step of steps) {
      if ('out' in step) recorder.fromServer(typeof step.out === 'string' ? shown(step.out) : step.out);
      else for (const chunk of Buffer.isBuffer(step.in) ? [step.in] : step.in) recorder.fromClient(chunk);
    }
    recorder.finish();
    assert.equal(recorder.error, undefined);
    const { events } = await readCast(recording.path);
    return { inputs: events.filter((e) => e.code === 'i').map((e) => e.data), file: await readFile(recording.path, 'utf8') };
  }

  it('sudo: the password typed one keystroke per message is one marker and its CR; the commands around it are recorded as typed', async () => {
    const { inputs, file } = await record('sudo', [
      { out: 'alice@web-0:~$ ' },
      ...Array.from('sudo -k id\r').flatMap((key) => [{ in: keystrokes(key) }, { out: key === '\r' ? '\r\n' : key }]),
      { out: '[sudo] password for alice: ' },
      { in: keystrokes('hunter2-Xq9\r') },
      { out: '\r\nuid=0(root) gid=0(root) groups=0(root)\r\nalice@web-0:~$ ' },
      ...Array.from('echo ok\r').flatMap((key) => [{ in: keystrokes(key) }, { out: key === '\r' ? '\r\n' : key }]),
    ]);
    assert.equal(inputs.join(''), `sudo -k id\r${PASSWORD_LINE_REDACTED}\recho ok\r`);
    assert.ok(!file.includes('hunter2') && !file.includes('Xq9'), 'the password is nowhere in the file');
    assert.equal(inputs.filter((data) => data.includes(PASSWORD_LINE_REDACTED)).length, 1, 'one marker for the line');
  });

  it('each prompt form, also on stderr (a session without a tty) and split across output messages, hides the line typed after it', async () => {
    const prompts = [
      'Password: ',
      'Enter password: ',
      "Enter passphrase for key '/root/.ssh/id_ed25519': ",
      'Password for user postgres: ',
      'New password: ',
      'Retype new password: ',
      'Verification code: ',
      'PIN: ',
      "alice@db's password: ",
    ];
    for (const [index, prompt] of prompts.entries()) {
      const cut = Math.floor(prompt.length / 2);
      const channel = index % 2 === 0 ? 1 : 2;
      const { inputs, file } = await record(`form-${index}`, [
        { out: shown('$ run\r\n', channel) },
        { out: shown(prompt.slice(0, cut), channel) },
        { out: shown(prompt.slice(cut), channel) },
        { in: keystrokes('s3cret-PW\n') },
      ]);
      assert.deepEqual(inputs.join(''), `${PASSWORD_LINE_REDACTED}\n`, prompt);
      assert.ok(!file.includes('s3cret-PW'), prompt);
    }
  });

  it('colours, cursor codes and an OSC title around the prompt do not hide it', async () => {
    const { inputs } = await record('escapes', [
      { out: '\x1b]0;root@db-0: /\x07\x1b[01;32mroot@db-0\x1b[00m:/# mysql -u root -p\r\n' },
      { out: '\x1b]2;mysql\x1b\\\x1b[1mEnter \x1b[33mpass' },
      { out: 'word:\x1b[0m \x1b[K' },
      { in: typed('correct horse battery staple\r') },
    ]);
    assert.deepEqual(inputs, [`${PASSWORD_LINE_REDACTED}\r`]);
  });

  it('lines typed after text that only mentions a password are recorded as typed', async () => {
    const notPrompts = ['password_policy = strict', 'Last password change: never', 'BAD PASSWORD: it is too short', 'db_password:', 'Error: wrong password:', 'alice@web-0:~$ '];
    for (const [index, line] of notPrompts.entries()) {
      const { inputs } = await record(`negative-${index}`, [{ out: `\r\n${line}` }, { in: keystrokes('cat notes.txt\r') }]);
      assert.equal(inputs.join(''), 'cat notes.txt\r', line);
    }
  });

  it('edits at the prompt (backspace, Ctrl-U, arrows) are dropped with the line; at a shell they are recorded as before', async () => {
    const atPrompt = await record('edits-prompt', [{ out: 'Password: ' }, { in: keystrokes('hunx\x7f\x7fter\x15hunter2\x1b[D!\r') }]);
    assert.deepEqual(atPrompt.inputs.join(''), `${PASSWORD_LINE_REDACTED}\r`);
    assert.ok(!atPrompt.file.includes('hun'));
    const atShell = await record('edits-shell', [{ out: '$ ' }, { in: keystrokes('lx\x7fs\r') }]);
    assert.deepEqual(atShell.inputs, ['lx\x7fs\r']);
  });

  it('a long secret line over many messages, past the held-line bound, is one marker: nothing of it is held or recorded', async () => {
    const secret = 'Z'.repeat(RECORDING_INPUT_LINE_MAX_CHARS * 3 + 17);
    const chunks = [frame(2, Buffer.from('\x00'), { mask, fin: false })];
    for (let at = 0; at < secret.length; at += 1000) chunks.push(frame(0, Buffer.from(secret.slice(at, at + 1000)), { mask, fin: false }));
    chunks.push(frame(0, Buffer.from('\r'), { mask }));
    const { inputs, file } = await record('long-secret', [{ out: 'Enter passphrase: ' }, { in: chunks }, { out: '\r\n$ ' }, { in: keystrokes('ls\r') }]);
    assert.deepEqual(inputs.join(''), `${PASSWORD_LINE_REDACTED}\rls\r`);
    assert.ok(!file.includes('ZZ'));
  });

  it('the line ends at CR, LF, Ctrl-C or Ctrl-D; a line typed while the prompt is still shown is hidden too; an empty Enter is kept', async () => {
    const interrupted = await record('ctrl-c', [{ out: '[sudo] password for alice: ' }, { in: keystrokes('hun\x03') }, { out: '\r\n$ ' }, { in: keystrokes('ls\r') }]);
    assert.deepEqual(interrupted.inputs.join(''), `${PASSWORD_LINE_REDACTED}\x03ls\r`);
    // Typed ahead in one message before the program answered: the second line is hidden too (safe side).
    const ahead = await record('ahead', [{ out: 'Password: ' }, { in: typed('hunter2\rsecond-Line\r') }]);
    assert.deepEqual(ahead.inputs.join(''), `${PASSWORD_LINE_REDACTED}\r${PASSWORD_LINE_REDACTED}\r`);
    assert.ok(!ahead.file.includes('second-Line'));
    const empty = await record('empty', [{ out: 'Password: ' }, { in: keystrokes('\r') }, { in: keystrokes('pw-again\r') }]);
    assert.deepEqual(empty.inputs.join(''), `\r${PASSWORD_LINE_REDACTED}\r`);
    // The session ends mid-line (and mid-character): the marker is all there is.
    const cut = await record('cut', [{ out: 'PIN: ' }, { in: typed('1234') }, { in: frame(2, Buffer.from([0, 0xe2, 0x82]), { mask }) }]);
    assert.deepEqual(cut.inputs, [PASSWORD_LINE_REDACTED]);
  });

  it('Security: a storm of random sessions: no secret typed after a prompt survives in the file, every ordinary line survives unchanged', async () => {
    const prompts = ['Password: ', '[sudo] password for alice: ', 'Enter password: ', "Enter passphrase for key '/root/.ssh/id_ed25519': ", 'Password for user postgres: ', 'New password: ', 'Retype new password: ', 'Verification code: ', 'PIN: ', "bob@db-1's password: ", 'Enter PEM pass phrase:'];
    const commands = ['ls -la', 'kubectl get pods', 'echo hello world', 'cat /etc/hostname', 'cd /var/log', 'grep -r error .', 'tail -n 20 app.log', 'ps aux', 'df -h', 'id'];
    const decoys = ['password_policy = strict', 'Last password change: never', 'Choose an option:', 'db_password:'];
    const secretChars = 'abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789!@#%^&*()_+-=[]{};:,.<>/?~éü€';
    for (let seed = 1; seed <= 40; seed++) {
      const random = prng(1000 + seed);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
      const recording = SessionRecording.create(dir, `prompt-storm-${seed}`, HEADER);
      const recorder = new TerminalRecorder(recording, { input: true });
      /** Server bytes: whole messages cut at random places, so a prompt is split anywhere. */
      const out = (text: string): void => {
        const channel = random() < 0.8 ? 1 : 2;
        for (const piece of randomPieces(Buffer.concat(fragmentedMessage(channel, Buffer.from(text), random, undefined)), random, 9)) recorder.fromServer(piece);
      };
      /** Client bytes: one message per keystroke, or messages of several keys, cut at random places. */
      const type = (text: string, echo: boolean): void => {
        const keys = Array.from(text);
        for (let at = 0; at < keys.length; ) {
          const size = random() < 0.7 ? 1 : 1 + Math.floor(random() * 6);
          const piece = keys.slice(at, at + size).join('');
          at += size;
          const maskFor = (): Buffer => Buffer.from([0, 1, 2, 3].map(() => Math.floor(random() * 256)));
          for (const bytes of randomPieces(Buffer.concat(fragmentedMessage(0, Buffer.from(piece), random, maskFor)), random, 11)) recorder.fromClient(bytes);
          if (echo) out(piece.replace(/\r/g, '\r\n'));
        }
      };
      const secrets: string[] = [];
      let expected = '';
      for (let step = 0; step < 25; step++) {
        const title = random() < 0.3 ? `\x1b]0;alice@web-${seed}: ~\x07` : '';
        if (random() < 0.4) {
          const prompt = pick(prompts);
          out(`${random() < 0.5 ? 'Sorry, try again.\r\n' : ''}${title}${random() < 0.3 ? `\x1b[1m${prompt}\x1b[0m` : prompt}`);
          const secret = Array.from({ length: 8 + Math.floor(random() * 30) }, () => pick(Array.from(secretChars))).join('');
          secrets.push(secret);
          // Sometimes a typo fixed with backspace; the line ends with CR (kubectl) or LF.
          const edit = random() < 0.3 ? `${pick(Array.from(secretChars))}\x7f` : '';
          const end = random() < 0.8 ? '\r' : '\n';
          type(`${edit}${secret}${end}`, false);
          expected += `${PASSWORD_LINE_REDACTED}${end}`;
          out('\r\n');
        } else {
          const last = random() < 0.2 ? pick(decoys) : `${title}\x1b[01;32malice@web-0\x1b[00m:~$ `;
          out(`${random() < 0.5 ? 'some output\r\n' : ''}${last}`);
          const command = `${pick(commands)}\r`;
          type(command, true);
          expected += command;
          out(`${pick(commands)} says ${'é'.repeat(Math.floor(random() * 5))} done\r\n`);
        }
      }
      recorder.finish();
      assert.equal(recorder.error, undefined, `seed ${seed}`);
      const file = await readFile(recording.path, 'utf8');
      const { events } = await readCast(recording.path);
      assert.equal(joined(events, 'i'), expected, `seed ${seed}: ordinary lines unchanged, each password line one marker`);
      for (const secret of secrets) {
        assert.ok(!file.includes(JSON.stringify(secret).slice(1, -1)) && !events.some((e) => e.data.includes(secret)), `seed ${seed}: ${JSON.stringify(secret)} is not in the file`);
      }
    }
  });
});
