/**
 * Pair and open a SecureChannel in one call (docs/design.md §4): run this role's handshake over the
 * transport, then wrap the result. On failure the transport is closed with the error's close
 * code unless the caller keeps it (the agent keeps its relay socket for the next attempt).
 */
import { toKubepairError } from '../errors/index.js';
import type { ChannelRole } from './associated-data.js';
import type { HandshakeOptions } from './handshake.js';
import { runAgentHandshake, runClientHandshake } from './handshake.js';
import type { SecureChannelOptions } from './secure-channel.js';
import { SecureChannel } from './secure-channel.js';

export interface OpenSecureChannelOptions extends HandshakeOptions {
  readonly channel?: SecureChannelOptions;
  /** Leave the transport open when pairing fails (default false: close it). */
  readonly keepTransportOnFailure?: boolean;
}

/** WebSocket close code "going away", for failures without a code of their own. */
const CLOSE_GOING_AWAY = 1001;

export async function openSecureChannel(role: ChannelRole, options: OpenSecureChannelOptions): Promise<SecureChannel> {
  try {
    const result = role === 'agent' ? await runAgentHandshake(options) : await runClientHandshake(options);
    return new SecureChannel(result, options.channel);
  } catch (err) {
    const error = toKubepairError(err);
    if (options.keepTransportOnFailure !== true) options.transport.close(error.closeCode ?? CLOSE_GOING_AWAY, error.code);
    throw error;
  }
}
