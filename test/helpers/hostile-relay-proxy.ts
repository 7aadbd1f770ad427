/**
 * A hostile relay-in-the-middle at the TCP level, for end-to-end tests of resumption against a
 * relay that attacks (docs/design.md §2, §8.1; docs/protocol.md §7.6): it sits between one real
 * endpoint (share or connect) and the real relay on plain ws:// over loopback, forwards
 * everything, and
 *
 * - reads the endpoint's upgrade requests, so a test learns what a relay learns: the session id
 *   and the session key (`Authorization: Bearer`) of each carrier;
 * - splits the relay → endpoint direction of each carrier (one TCP connection = one carrier
 *   generation) into WebSocket frames after the 101 answer, records the binary ones (the
 *   channel's records and RESUMEs) per carrier, and can inject recorded frames into a later
 *   carrier at a frame boundary: an old generation's socket replayed after a resume;
 * - cuts every current carrier (reset), so that the endpoint opens the next generation.
 *
 * Connections that are not upgraded (the relay API's calls) pass through untouched; the
 * endpoint → relay direction is never changed.
 *
 * Text frames of up to 125 bytes (the relay's control frames) are kept as text too. Server frames are unmasked (RFC 6455 §5.1), so the recorded bytes are valid on any later
 * connection as they are. Loopback only; nothing here is untrusted input (tests drive it); every
 * socket is closed in close().
 */
import type { AddressInfo, Server, Socket } from 'node:net';
import { connect, createServer } from 'node:net';
import { within } from './wait-until.js';

/** One carrier through the proxy. */
export interface Carrier {
  /** 1 for the first connection, 2 for the next... */
  readonly number: number;
  /** The upgrade request's path and bearer key, once read. */
  path: string | undefined;
  key: string | undefined;
  /** Whole binary WebSocket frames (header included) the relay sent the endpoint, in order. */
  readonly binaryFrames: Buffer[];
  /** Text frames' payloads (the relay's control frames), in order. */
  readonly textFrames: string[];
  readonly endpoint: Socket;
  readonly relay: Socket;
}

export interface HostileRelayProxy {
  readonly port: number;
  readonly url: string;
  /** Every carrier so far, oldest first. */
  readonly carriers: readonly Carrier[];
  /** Reset every open carrier (both sockets). */
  cut(): void;
  /** Write `frames` (recorded relay → endpoint frames) into `carrier`'s stream to the endpoint, at a frame boundary. */
  inject(carrier: Carrier, frames: readonly Buffer[]): void;
  close(): Promise<void>;
}

/** Where a carrier's relay → endpoint stream is: the HTTP answer, then frames (101) or passed through as it is (an API call, a refusal). */
type ReadState = 'answer' | 'frames' | 'raw';

/** The length of the first whole frame in `buffer`, or undefined while it is incomplete. */
function frameLength(buffer: Buffer): number | undefined {
  if (buffer.length < 2) return undefined;
  const masked = (buffer[1]! & 0x80) !== 0;
  let length = buffer[1]! & 0x7f;
  let header = 2;
  if (length === 126) {
    if (buffer.length < 4) return undefined;
    length = buffer.readUInt16BE(2);
    header = 4;
  } else if (length === 127) {
    if (buffer.length < 10) return undefined;
    length = Number(buffer.readBigUInt64BE(2));
    header = 10;
  }
  const total = header + (masked ? 4 : 0) + length;
  return buffer.length >= total ? total : undefined;
}

export async function startHostileRelayProxy(relayPort: number): Promise<HostileRelayProxy> {
  const carriers: Carrier[] = [];
  const open = new Set<Carrier>();

  const server: Server = createServer((endpoint) => {
    const relay = connect({ host: '127.0.0.1', port: relayPort });
    const carrier: Carrier = { number: carriers.length + 1, path: undefined, key: undefined, binaryFrames: [], textFrames: [], endpoint, relay };
    carriers.push(carrier);
    open.add(carrier);
    const end = (): void => {
      open.delete(carrier);
      endpoint.destroy();
      relay.destroy();
    };
    endpoint.on('error', end);
    relay.on('error', end);
    endpoint.on('close', end);
    relay.on('close', end);

    let request = Buffer.alloc(0);
    endpoint.on('data', (chunk: Buffer) => {
      if (carrier.path === undefined && request.length < 16_384) {
        request = Buffer.concat([request, chunk]);
        const head = request.toString('latin1');
        const endOfHead = head.indexOf('\r\n\r\n');
        if (endOfHead >= 0) {
          const lines = head.slice(0, endOfHead).split('\r\n');
          carrier.path = lines[0]?.split(' ')[1];
          carrier.key = /^authorization: Bearer (\S+)$/im.exec(lines.join('\n'))?.[1];
        }
      }
      relay.write(chunk);
    });

    let state: ReadState = 'answer';
    let pending = Buffer.alloc(0);
    relay.on('data', (chunk: Buffer) => {
      if (state === 'raw') {
        endpoint.write(chunk);
        return;
      }
      pending = Buffer.concat([pending, chunk]);
      if (state === 'answer') {
        const endOfHead = pending.indexOf('\r\n\r\n');
        if (endOfHead < 0) return;
        const upgraded = pending.subarray(0, 13).toString('latin1') === 'HTTP/1.1 101 ';
        endpoint.write(upgraded ? pending.subarray(0, endOfHead + 4) : pending);
        pending = upgraded ? pending.subarray(endOfHead + 4) : Buffer.alloc(0);
        state = upgraded ? 'frames' : 'raw';
        if (!upgraded) return;
      }
      for (let length = frameLength(pending); length !== undefined; length = frameLength(pending)) {
        const frame = Buffer.from(pending.subarray(0, length));
        pending = pending.subarray(length);
        const opcode = frame[0]! & 0x0f;
        if (opcode === 0x2) carrier.binaryFrames.push(frame);
        if (opcode === 0x1 && (frame[1]! & 0x7f) < 126) carrier.textFrames.push(frame.subarray(2).toString('utf8'));
        endpoint.write(frame);
      }
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    carriers,
    cut() {
      for (const carrier of [...open]) {
        carrier.endpoint.resetAndDestroy();
        carrier.relay.resetAndDestroy();
      }
    },
    inject(carrier, frames) {
      // The proxy writes the endpoint only whole frames (a partial one waits in `pending`), so
      // any moment between two writes is a frame boundary.
      for (const frame of frames) carrier.endpoint.write(frame);
    },
    async close() {
      for (const carrier of open) {
        carrier.endpoint.destroy();
        carrier.relay.destroy();
      }
      await within(10_000, 'the hostile relay proxy to close', new Promise<void>((resolve) => server.close(() => resolve())));
    },
  };
}
