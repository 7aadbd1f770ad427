/**
 * Raw WebSocket client frames for tests that write bytes to a relay themselves (RFC 6455 §5.2):
 * masked (as a client must) unless asked not to, and written in pieces of random sizes, the way a
 * hostile endpoint would split them. Loopback sockets only; every loop is bounded by the bytes.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { Socket } from 'node:net';

/** A client frame with `opcode` (2: binary) around `payload`: FIN unless `fin: false`, masked with a random key unless `mask: false`. */
export function clientFrame(opcode: number, payload: Buffer, options: { mask?: boolean; fin?: boolean } = {}): Buffer {
  const length = payload.length;
  const lengthBytes = length >= 0x10000 ? 8 : length >= 126 ? 2 : 0;
  const masked = options.mask !== false;
  const header = Buffer.alloc(2 + lengthBytes + (masked ? 4 : 0));
  header[0] = (options.fin === false ? 0 : 0x80) | opcode;
  header[1] = (masked ? 0x80 : 0) | (lengthBytes === 8 ? 127 : lengthBytes === 2 ? 126 : length);
  if (lengthBytes === 2) header.writeUInt16BE(length, 2);
  if (lengthBytes === 8) header.writeBigUInt64BE(BigInt(length), 2);
  if (!masked) return Buffer.concat([header, payload]);
  const mask = randomBytes(4);
  mask.copy(header, 2 + lengthBytes);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] = (body[i] as number) ^ (mask[i & 3] as number);
  return Buffer.concat([header, body]);
}

/** Write `bytes` in pieces of random sizes, letting the event loop turn between some of them, waiting for drain above 4 MiB queued. */
export async function writeInPieces(socket: Socket, bytes: Buffer): Promise<void> {
  let pos = 0;
  while (pos < bytes.length) {
    const size = Math.min(bytes.length - pos, randomInt(0, 4) === 0 ? randomInt(1, 16) : randomInt(1, 200_000));
    socket.write(bytes.subarray(pos, pos + size));
    pos += size;
    if (randomInt(0, 3) === 0) await new Promise((resolve) => setImmediate(resolve));
    if (socket.writableLength > 4 * 1024 * 1024) await new Promise((resolve) => socket.once('drain', resolve));
  }
}
