/** Two SecureChannels paired over an in-memory transport (or a test relay), for layer tests. */
import { randomBytes } from 'node:crypto';
import type { PairingCode, SecureChannelOptions } from '../../src/channel/index.js';
import { MemoryTransport, SecureChannel, openSecureChannel } from '../../src/channel/index.js';
import type { MessageTransport } from '../../src/channel/transport.js';

const CODE: PairingCode = { nameplate: '7', secret: '24681357' };

export async function pairedChannels(
  options: SecureChannelOptions = {},
  transports: [MessageTransport, MessageTransport] = MemoryTransport.pair({ highWaterMark: 4 * 1024 * 1024 }),
): Promise<{ agent: SecureChannel; client: SecureChannel }> {
  const sessionId = randomBytes(16);
  const [agent, client] = await Promise.all([
    openSecureChannel('agent', { transport: transports[0], code: CODE, sessionId, channel: options }),
    openSecureChannel('client', { transport: transports[1], code: CODE, sessionId, channel: options }),
  ]);
  return { agent, client };
}

/** Resolve with the promise's value, or reject after `ms` naming what did not happen. */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export { SecureChannel };
