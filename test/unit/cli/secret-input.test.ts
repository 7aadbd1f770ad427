/** Reading a token without echo (src/cli/secret-input.ts) from a stand-in terminal and from streams. */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { promptHidden, readSecretStream } from '../../../src/cli/secret-input.js';
import { isKubepairError } from '../../../src/errors/index.js';

class FakeTerminal extends EventEmitter {
  readonly isTTY = true;
  readonly rawModes: boolean[] = [];
  setRawMode(mode: boolean): this {
    this.rawModes.push(mode);
    return this;
  }
  resume(): this {
    return this;
  }
  pause(): this {
    return this;
  }
}

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
