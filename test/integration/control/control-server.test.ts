/**
 * The local control socket (src/control/): the directory and socket permissions, the one-line
 * request/answer wire, coded errors for every bad request, bounds against hostile local clients,
 * stale sockets, and how a client picks the process to talk to. Real Unix sockets in a private
 * runtime directory per test.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmod, lstat, mkdir, mkdtemp, rename, rm, symlink } from 'node:fs/promises';
import type { Socket } from 'node:net';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { z } from 'zod';
import { chooseControlSocket, findControlSockets, sendControlCommand } from '../../../src/control/control-client.js';
import type { ControlServerLimits } from '../../../src/control/control-server.js';
import { ControlServer } from '../../../src/control/control-server.js';
import { controlDirectory } from '../../../src/control/control-socket-path.js';
import { KubepairError, isKubepairError } from '../../../src/errors/index.js';
import { CONTROL_REQUEST_MAX_BYTES } from '../../../src/limits.js';
import { waitUntilAsync, within } from '../../helpers/wait-until.js';

const TEST_TIMEOUT_MS = 10_000;

const base = await mkdtemp(join(tmpdir(), 'kp-ctl-'));
let counter = 0;

/** A fresh private runtime directory and its environment. */
async function runtimeEnv(): Promise<NodeJS.ProcessEnv> {
  counter += 1;
  const runtime = join(base, `r${counter}`);
  await mkdir(runtime, { mode: 0o700 });
  await chmod(runtime, 0o700);
  return { XDG_RUNTIME_DIR: runtime };
}

/** Write `text` raw to the socket at `path` (optionally ending the write side) and read everything until the server closes. */
function rawExchange(path: string, text: string | Buffer, options: { end?: boolean } = {}): Promise<string> {
  return within(
    TEST_TIMEOUT_MS,
    'the raw exchange',
    new Promise<string>((resolve, reject) => {
      const socket = connect(path);
      const chunks: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', reject);
      socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
      socket.once('connect', () => {
        if (options.end === false) socket.write(text);
        else socket.end(text);
      });
    }),
  );
}

function errorCodeOf(answer: string): string {
  const parsed = JSON.parse(answer) as { ok: boolean; error?: { code: string } };
  assert.equal(parsed.ok, false, answer);
  return parsed.error!.code;
}

async function echoServer(env: NodeJS.ProcessEnv, limits?: Partial<ControlServerLimits>): Promise<ControlServer> {
  const server = await ControlServer.listen({ role: 'share', env, ...(limits !== undefined && { limits }) });
  server.register('echo', z.strictObject({ text: z.string().max(100) }), ({ text }) => ({ echoed: text }));
  server.register('refuse', z.strictObject({}), () => {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', 'no, not that');
  });
  server.register('crash', z.strictObject({}), () => {
    throw new Error('secret internal detail /home/user/.kube/config');
  });
  return server;
}

after(() => rm(base, { recursive: true, force: true }));

describe('control socket', () => {

  it('answers a registered command with its result, one line per connection, and removes its socket on close', async () => {
    const env = await runtimeEnv();
    const server = await echoServer(env);
    try {
      assert.match(server.path, new RegExp(`/kubepair-control-${process.getuid!()}/share-${process.pid}\\.sock$`));
      assert.deepEqual(await sendControlCommand(server.path, 'echo', { text: 'hi' }), { echoed: 'hi' });
      const raw = await rawExchange(server.path, '{"v":1,"command":"echo","args":{"text":"x"}}\n');
      assert.equal(raw, '{"ok":true,"result":{"echoed":"x"}}\n');
    } finally {
      await server.close();
    }
    await assert.rejects(lstat(server.path), { code: 'ENOENT' });
  });

  it('a handler that throws a KubepairError answers its code and message; the client rebuilds the same error', async () => {
    const server = await echoServer(await runtimeEnv());
    try {
      await assert.rejects(sendControlCommand(server.path, 'refuse'), (err: unknown) => {
        assert.ok(isKubepairError(err, 'KP_ERR_INVALID_ARGUMENT'), String(err));
        assert.equal(err.message, 'invalid argument: no, not that');
        return true;
      });
    } finally {
      await server.close();
    }
  });

  it('chooseControlSocket picks the only running process, names them all when several run, and says when none does', async () => {
    const env = await runtimeEnv();
    await assert.rejects(chooseControlSocket({ env }), (err: unknown) => isKubepairError(err, 'KP_ERR_CONTROL_NOT_RUNNING'));
    const share = await ControlServer.listen({ role: 'share', env });
    try {
      assert.equal((await chooseControlSocket({ env })).path, share.path);
      assert.equal((await chooseControlSocket({ env, pid: process.pid })).role, 'share');
      await assert.rejects(chooseControlSocket({ env, role: 'connect' }), (err: unknown) => isKubepairError(err, 'KP_ERR_CONTROL_NOT_RUNNING'));
      const connectSide = await ControlServer.listen({ role: 'connect', env });
      try {
        await assert.rejects(chooseControlSocket({ env }), (err: unknown) => {
          assert.ok(isKubepairError(err, 'KP_ERR_CONTROL_AMBIGUOUS'), String(err));
          assert.match(err.message, new RegExp(`connect \\(pid ${process.pid}\\), share \\(pid ${process.pid}\\)|share \\(pid ${process.pid}\\), connect \\(pid ${process.pid}\\)`));
          return true;
        });
        assert.equal((await chooseControlSocket({ env, role: 'connect' })).path, connectSide.path);
      } finally {
        await connectSide.close();
      }
    } finally {
      await share.close();
    }
  });

  it('a stale socket (nobody listening, its process gone) is removed by the client that finds it', async () => {
    const env = await runtimeEnv();
    const directory = await controlDirectory(env);
    // A socket left by a process that was killed while it listened (SIGKILL: nothing cleans up).
    const child = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'))`, join(directory, 'pending.sock')]);
    await within(TEST_TIMEOUT_MS, 'the child to die', once(child, 'exit'));
    const stalePath = join(directory, `share-${child.pid}.sock`);
    await rename(join(directory, 'pending.sock'), stalePath);
    assert.ok((await lstat(stalePath)).isSocket(), 'the leftover socket exists');
    assert.deepEqual(await findControlSockets({ env }), []);
    await assert.rejects(lstat(stalePath), { code: 'ENOENT' });
  });
});

describe('Security: the control socket is private', () => {
  it('the socket is 0600 inside a 0700 directory owned by this user', async () => {
    const server = await ControlServer.listen({ role: 'share', env: await runtimeEnv() });
    try {
      const socket = await lstat(server.path);
      assert.ok(socket.isSocket());
      assert.equal(socket.mode & 0o777, 0o600);
      const directory = await lstat(join(server.path, '..'));
      assert.equal(directory.mode & 0o777, 0o700);
      assert.equal(directory.uid, process.getuid!());
    } finally {
      await server.close();
    }
  });

  it('a control directory another user could enter, or a symlink in its place, is refused with KP_ERR_CONTROL_DIR_INSECURE', async () => {
    const env = await runtimeEnv();
    const directory = join(env['XDG_RUNTIME_DIR']!, `kubepair-control-${process.getuid!()}`);
    await mkdir(directory, { mode: 0o700 });
    await chmod(directory, 0o755);
    await assert.rejects(ControlServer.listen({ role: 'share', env }), (err: unknown) => {
      assert.ok(isKubepairError(err, 'KP_ERR_CONTROL_DIR_INSECURE'), String(err));
      assert.match(err.message, /its mode is 0755/);
      return true;
    });
    await rm(directory, { recursive: true });
    const elsewhere = join(base, `elsewhere-${counter}`);
    await mkdir(elsewhere, { mode: 0o700 });
    await symlink(elsewhere, directory);
    await assert.rejects(ControlServer.listen({ role: 'share', env }), (err: unknown) => isKubepairError(err, 'KP_ERR_CONTROL_DIR_INSECURE'));
  });
});

describe('Security: a hostile local client cannot crash or stall the control socket', () => {
  it('every malformed request gets a coded error answer, and the server goes on answering', async () => {
    const server = await echoServer(await runtimeEnv());
    try {
      const cases: ReadonlyArray<readonly [string, string | Buffer, string]> = [
        ['not JSON', 'hello\n', 'KP_ERR_CONTROL_REQUEST_INVALID'],
        ['invalid UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d, 0x0a]), 'KP_ERR_CONTROL_REQUEST_INVALID'],
        ['JSON but not an object', '[1,2,3]\n', 'KP_ERR_CONTROL_REQUEST_INVALID'],
        ['wrong version', '{"v":2,"command":"echo","args":{"text":"x"}}\n', 'KP_ERR_CONTROL_REQUEST_INVALID'],
        ['unknown field', '{"v":1,"command":"echo","args":{"text":"x"},"sudo":true}\n', 'KP_ERR_CONTROL_REQUEST_INVALID'],
        ['unknown command', '{"v":1,"command":"format-disk"}\n', 'KP_ERR_CONTROL_COMMAND_UNKNOWN'],
        ['command name with control characters', '{"v":1,"command":"echo\\u001b[2J"}\n', 'KP_ERR_CONTROL_REQUEST_INVALID'],
        ['arguments of the wrong type', '{"v":1,"command":"echo","args":{"text":42}}\n', 'KP_ERR_CONTROL_REQUEST_INVALID'],
        ['arguments the command does not take', '{"v":1,"command":"echo","args":{"text":"x","more":1}}\n', 'KP_ERR_CONTROL_REQUEST_INVALID'],
        ['__proto__ in the arguments', '{"v":1,"command":"echo","args":{"__proto__":{"polluted":true},"text":"x"}}\n', 'KP_ERR_CONTROL_REQUEST_INVALID'],
        ['a handler that throws a plain Error', '{"v":1,"command":"crash","args":{}}\n', 'KP_ERR_INTERNAL'],
        ['the connection ends before the newline', '{"v":1,"command":"echo"', 'KP_ERR_CONTROL_REQUEST_INVALID'],
        ['an empty line', '\n', 'KP_ERR_CONTROL_REQUEST_INVALID'],
      ];
      for (const [name, text, code] of cases) {
        const answer = await rawExchange(server.path, text);
        assert.equal(errorCodeOf(answer), code, `${name}: ${answer}`);
        assert.doesNotMatch(answer, /secret internal detail|at .*\.js:\d+/, `${name}: no details or stack`);
        assert.deepEqual(await sendControlCommand(server.path, 'echo', { text: 'still here' }), { echoed: 'still here' }, `${name}: the server still answers`);
      }
      assert.equal(({} as Record<string, unknown>)['polluted'], undefined, 'no prototype pollution');
    } finally {
      await server.close();
    }
  });

  it('an oversized request line is refused at the limit, without waiting for its end', async () => {
    const server = await echoServer(await runtimeEnv());
    try {
      // Never ends and never sends a newline: the answer must come from the size alone.
      const answer = await rawExchange(server.path, Buffer.alloc(CONTROL_REQUEST_MAX_BYTES + 1, 0x61), { end: false });
      assert.equal(errorCodeOf(answer), 'KP_ERR_CONTROL_REQUEST_TOO_LARGE');
      assert.deepEqual(await sendControlCommand(server.path, 'echo', { text: 'ok' }), { echoed: 'ok' });
    } finally {
      await server.close();
    }
  });

  it('a client that never finishes its line is answered KP_ERR_CONTROL_TIMEOUT and cut; the server goes on answering', async () => {
    const server = await echoServer(await runtimeEnv(), { requestTimeoutMs: 300 });
    try {
      const answer = await rawExchange(server.path, '{"v":1,', { end: false });
      assert.equal(errorCodeOf(answer), 'KP_ERR_CONTROL_TIMEOUT', answer);
      assert.deepEqual(await sendControlCommand(server.path, 'echo', { text: 'back' }), { echoed: 'back' });
    } finally {
      await server.close();
    }
  });

  it('clients holding every connection slot do not grow the server: one more is answered KP_ERR_CONTROL_BUSY; once they leave it answers again', async () => {
    const maxConnections = 3;
    const server = await echoServer(await runtimeEnv(), { maxConnections });
    const holders: Socket[] = [];
    try {
      for (let i = 0; i < maxConnections; i++) {
        const holder = connect(server.path);
        holder.on('error', () => undefined);
        holders.push(holder);
        await within(TEST_TIMEOUT_MS, 'a holder to connect', once(holder, 'connect'));
        holder.write('{'); // a line that never ends
      }
      // The server accepts connections in order, so the holders are counted before this one.
      const busy = await rawExchange(server.path, '{"v":1,"command":"echo","args":{"text":"x"}}\n');
      assert.equal(errorCodeOf(busy), 'KP_ERR_CONTROL_BUSY', busy);
      for (const holder of holders) holder.destroy();
      await waitUntilAsync(
        async () => {
          try {
            return JSON.stringify(await sendControlCommand(server.path, 'echo', { text: 'free' })) === '{"echoed":"free"}';
          } catch (err) {
            if (isKubepairError(err, 'KP_ERR_CONTROL_BUSY')) return false;
            throw err;
          }
        },
        TEST_TIMEOUT_MS,
        'the server to answer once the holders left',
      );
    } finally {
      for (const holder of holders) holder.destroy();
      await server.close();
    }
  });

  it('the client refuses an answer that is not the answer shape, and one it cannot read in time', async () => {
    const env = await runtimeEnv();
    const directory = await controlDirectory(env);
    const path = join(directory, `share-${process.pid}.sock`);
    let reply = 'garbage\n';
    const silent: Socket[] = [];
    const impostor = createServer((socket) => {
      if (reply === '') {
        silent.push(socket); // reads nothing, answers nothing
        return;
      }
      socket.resume(); // read (and drop) the request, so the client's close is seen
      socket.end(reply);
    });
    await new Promise<void>((resolve) => impostor.listen(path, resolve));
    try {
      await assert.rejects(sendControlCommand(path, 'status'), (err: unknown) => isKubepairError(err, 'KP_ERR_CONTROL_BAD_RESPONSE'));
      reply = '{"ok":false,"error":{"code":"KP_ERR_MADE_UP","message":"x"}}\n';
      await assert.rejects(sendControlCommand(path, 'status'), (err: unknown) => isKubepairError(err, 'KP_ERR_CONTROL_BAD_RESPONSE'));
      reply = '';
      await assert.rejects(sendControlCommand(path, 'status', {}, { timeoutMs: 200 }), (err: unknown) => isKubepairError(err, 'KP_ERR_CONTROL_TIMEOUT'));
    } finally {
      for (const socket of silent) socket.destroy();
      await new Promise<void>((resolve) => impostor.close(() => resolve()));
    }
  });
});
