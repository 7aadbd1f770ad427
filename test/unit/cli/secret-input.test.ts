/** Reading a token without echo (src/cli/secret-input.ts) from a stand-in terminal and from streams. */
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { promptHidden, promptLine, promptSignal, readFirstLine, readSecretStream } from '../../../src/cli/secret-input.js';
import { KubepairError, isKubepairError } from '../../../src/errors/index.js';
import { FakeTerminal } from '../../helpers/fake-terminal.js';

function capture(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString('utf8');
      callback();
    },
  });
  return { stream, text: () => text };
}

describe('promptHidden', () => {
  const token = `kprt_${'T'.repeat(43)}`;

  it('reads up to Enter in raw mode, echoes nothing of the input, and restores the terminal', async () => {
    const terminal = new FakeTerminal();
    const out = capture();
    const line = promptHidden(terminal, out.stream, 'Token: ');
    terminal.emit('data', Buffer.from(token.slice(0, 10)));
    terminal.emit('data', Buffer.from(`${token.slice(10)}\r ignored after enter`));
    assert.equal(await line, token);
    assert.equal(out.text(), 'Token: \n');
    assert.deepEqual(terminal.rawModes, [true, false]);
  });

  it('backspace edits, control characters are dropped, Ctrl-D ends the line', async () => {
    const terminal = new FakeTerminal();
    const line = promptHidden(terminal, capture().stream, '');
    terminal.emit('data', 'kprt_x\u007f\u001bab\bc\u0004');
    assert.equal(await line, 'kprt_ac');
  });

  it('Ctrl-C aborts with KP_ERR_ABORTED and restores the terminal', async () => {
    const terminal = new FakeTerminal();
    const line = promptHidden(terminal, capture().stream, '');
    terminal.emit('data', 'kprt_abc\u0003');
    await assert.rejects(line, (err) => isKubepairError(err, 'KP_ERR_ABORTED'));
    assert.deepEqual(terminal.rawModes, [true, false]);
  });

  it('input longer than the bound is refused', async () => {
    const terminal = new FakeTerminal();
    const line = promptHidden(terminal, capture().stream, '', 8);
    terminal.emit('data', '123456789');
    await assert.rejects(line, (err) => isKubepairError(err, 'KP_ERR_INVALID_ARGUMENT'));
  });
});

describe('readSecretStream', () => {
  it('reads everything, trimmed (a trailing newline from echo or a file)', async () => {
    assert.equal(await readSecretStream(Readable.from([Buffer.from('  kprt_'), Buffer.from('abc\r\n')])), 'kprt_abc');
    assert.equal(await readSecretStream(Readable.from([])), '');
  });

  it('refuses more than the bound', async () => {
    await assert.rejects(readSecretStream(Readable.from([Buffer.alloc(10, 'a'), Buffer.alloc(10, 'b')]), 16), (err) => isKubepairError(err, 'KP_ERR_INVALID_ARGUMENT'));
  });
});

describe('promptLine for the pairing code', () => {
  it('echoes printable ASCII only, erases on backspace, and restores the terminal', async () => {
    const terminal = new FakeTerminal();
    const out = capture();
    const line = promptLine(terminal, out.stream, 'Pairing code: ', { echo: true, maxChars: 64 });
    terminal.emit('data', '42-73\u007f\u001b]0;x\u0007\u00e9 15\r');
    assert.equal(await line, '42-7]0;x 15');
    assert.equal(out.text(), 'Pairing code: 42-73\b \b]0;x 15\n');
    assert.deepEqual(terminal.rawModes, [true, false]);
  });

  it('the terminal is in raw mode before the prompt appears (a Ctrl-D typed at once is read raw, not as the canonical end-of-file)', async () => {
    const terminal = new FakeTerminal();
    const rawModesWhenPromptShown: boolean[][] = [];
    const out = new Writable({
      write(_chunk: Buffer, _encoding, callback) {
        rawModesWhenPromptShown.push([...terminal.rawModes]);
        callback();
      },
    });
    const line = promptLine(terminal, out, 'Pairing code: ', { echo: true });
    terminal.emit('data', '\u0004');
    assert.equal(await line, '');
    assert.deepEqual(rawModesWhenPromptShown[0], [true], 'raw mode was on when the prompt was written');
  });

  it('Ctrl-\\ (SIGQUIT in canonical mode, a byte in raw mode) ends the prompt as SIGQUIT would, not silently dropped', async () => {
    const quit = new FakeTerminal();
    const pending = promptLine(quit, capture().stream, '', { echo: true });
    quit.emit('data', '42\u001c');
    await assert.rejects(pending, (err) => isKubepairError(err, 'KP_ERR_INTERRUPTED') && promptSignal(err) === 'SIGQUIT');
    assert.deepEqual(quit.rawModes, [true, false]);
    const interrupted = new FakeTerminal();
    const ctrlC = promptLine(interrupted, capture().stream, '', { echo: true });
    interrupted.emit('data', '\u0003');
    await assert.rejects(ctrlC, (err) => isKubepairError(err, 'KP_ERR_INTERRUPTED') && promptSignal(err) === 'SIGINT');
  });

  it('Ctrl-C is KP_ERR_INTERRUPTED; Ctrl-D on an empty line and end of input give an empty code', async () => {
    const interrupted = new FakeTerminal();
    const pending = promptLine(interrupted, capture().stream, '', { echo: true });
    interrupted.emit('data', '42\u0003');
    await assert.rejects(pending, (err) => isKubepairError(err, 'KP_ERR_INTERRUPTED'));
    assert.deepEqual(interrupted.rawModes, [true, false]);

    const ctrlD = new FakeTerminal();
    const empty = promptLine(ctrlD, capture().stream, '', { echo: true });
    ctrlD.emit('data', '\u0004');
    assert.equal(await empty, '');

    const ended = new FakeTerminal();
    const atEnd = promptLine(ended, capture().stream, '', { echo: true });
    ended.emit('end');
    assert.equal(await atEnd, '');
  });

  it('a signal stops the prompt with its reason and restores the terminal', async () => {
    const terminal = new FakeTerminal();
    const controller = new AbortController();
    const pending = promptLine(terminal, capture().stream, '', { echo: true, signal: controller.signal });
    terminal.emit('data', '42-');
    controller.abort(new KubepairError('KP_ERR_INTERRUPTED', 'received SIGTERM'));
    await assert.rejects(pending, (err) => isKubepairError(err, 'KP_ERR_INTERRUPTED') && /SIGTERM/.test(err.message));
    assert.deepEqual(terminal.rawModes, [true, false]);
    assert.equal(terminal.listenerCount('data'), 0, 'stopped reading');
  });
});

describe('readFirstLine', () => {
  it('reads up to the first line feed, trimmed, and pauses the stream there', async () => {
    const input = new Readable({ read() {} });
    const line = readFirstLine(input, { maxBytes: 64, what: 'a code' });
    input.push('  42-7315');
    input.push('-0286\r\nmore input for the command\n');
    assert.equal(await line, '42-7315-0286');
    assert.equal(input.listenerCount('data'), 0);
    assert.equal(input.isPaused(), true);
  });

  it('end of input ends the line; nothing at all is an empty line', async () => {
    assert.equal(await readFirstLine(Readable.from([Buffer.from('42-7315-0286')]), { maxBytes: 64, what: 'a code' }), '42-7315-0286');
    assert.equal(await readFirstLine(Readable.from([]), { maxBytes: 64, what: 'a code' }), '');
  });

  it('a first line over the bound is refused without reading on', async () => {
    const input = new Readable({ read() {} });
    const line = readFirstLine(input, { maxBytes: 16, what: 'a code' });
    input.push('1'.repeat(40));
    await assert.rejects(line, (err) => isKubepairError(err, 'KP_ERR_INVALID_ARGUMENT'));
  });

  it('a signal stops the read with its reason', async () => {
    const input = new Readable({ read() {} });
    const controller = new AbortController();
    const line = readFirstLine(input, { maxBytes: 64, what: 'a code', signal: controller.signal });
    controller.abort(new KubepairError('KP_ERR_INTERRUPTED', 'received SIGINT'));
    await assert.rejects(line, (err) => isKubepairError(err, 'KP_ERR_INTERRUPTED'));
    input.destroy();
  });
});
