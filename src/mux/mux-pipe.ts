/**
 * MuxPipe (issue 15 experiment, not enabled by default): give HTTP/2 a native socket instead of
 * the channel's JS Duplex, so Node does not wrap it in its JSStreamSocket. HTTP/2 gets one end
 * of a private Unix socket connection; a pump moves bytes between the other end and
 * `channel.mux` with backpressure both ways.
 *
 * The socket lives in a fresh 0700 directory (mkdtemp) under the runtime directory, the server
 * accepts exactly one connection and is closed and its file and directory unlinked at once; no
 * abstract socket (any local user could connect to one). Every close or error of either end,
 * of the channel or of the pipe tears all of it down.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { SecureChannel } from '../channel/secure-channel.js';
import { turnBatch } from './turn-batch.js';

/** Longest Unix socket path Linux takes (sun_path is 108 bytes with its NUL). */
const MAX_SOCKET_PATH = 107;

function runtimeBase(): string {
  const xdg = process.env['XDG_RUNTIME_DIR'];
  const uid = process.getuid?.();
  const candidates = [...(xdg !== undefined && xdg.startsWith('/') ? [xdg] : []), '/dev/shm', tmpdir()];
  for (const path of candidates) {
    try {
      const info = statSync(path);
      if (!info.isDirectory()) continue;
      if (path === xdg && ((uid !== undefined && info.uid !== uid) || (info.mode & 0o077) !== 0)) continue;
      return path;
    } catch {
      // missing: try the next
    }
  }
  return tmpdir();
}

/** True when the experiment is switched on (KUBEPAIR_MUX_PIPE=1). */
export function muxPipeEnabled(): boolean {
  return process.env['KUBEPAIR_MUX_PIPE'] === '1';
}

/**
 * The byte stream HTTP/2 should run on: a native socket piped to `channel.mux`, or `channel.mux`
 * itself when the pipe is off or cannot be set up.
 */
export function muxTransport(channel: SecureChannel): Duplex {
  if (!muxPipeEnabled()) return channel.mux;
  let dir: string | undefined;
  try {
    dir = mkdtempSync(join(runtimeBase(), 'kubepair-mux-'));
    const path = join(dir, 's');
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH) throw new Error('socket path too long');
    return openPipe(channel, dir, path);
  } catch {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    return channel.mux;
  }
}

function openPipe(channel: SecureChannel, dir: string, path: string): Socket {
  const mux = channel.mux;
  let ours: Socket | undefined;
  let done = false;
  const server: Server = createServer({ pauseOnConnect: true });
  const removeDir = (): void => rmSync(dir, { recursive: true, force: true });
  const teardown = (): void => {
    if (done) return;
    done = true;
    server.close();
    removeDir();
    ours?.destroy();
    theirs.destroy();
    if (!mux.destroyed) mux.destroy();
  };
  server.maxConnections = 1;
  server.on('error', teardown);
  server.on('connection', (socket) => {
    if (ours !== undefined || done) {
      socket.destroy();
      return;
    }
    ours = socket;
    server.close();
    removeDir();
    pump(socket);
  });
  // Binding a Unix socket is synchronous, so the connect below finds it listening.
  server.listen({ path, exclusive: true });
  const theirs = connect({ path });
  theirs.on('error', teardown);
  theirs.on('close', teardown);
  mux.on('error', teardown);
  mux.on('close', teardown);
  channel.once('close', teardown);

  const pump = (socket: Socket): void => {
    socket.on('error', teardown);
    socket.on('close', teardown);
    // HTTP/2 → channel: the chunks of one turn leave as one write (one record).
    const batchToMux = turnBatch(mux);
    socket.on('data', (chunk: Buffer) => {
      batchToMux();
      if (!mux.write(chunk)) socket.pause();
    });
    mux.on('drain', () => socket.resume());
    socket.on('end', () => mux.end());
    // channel → HTTP/2.
    const batchToSocket = turnBatch(socket);
    mux.on('data', (chunk: Buffer) => {
      batchToSocket();
      if (!socket.write(chunk)) mux.pause();
    });
    socket.on('drain', () => mux.resume());
    mux.on('end', () => socket.end());
    socket.resume();
  };
  return theirs;
}
