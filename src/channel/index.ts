/** Public surface of the channel layer: pairing codes, the handshake and the secure channel. */
export type { AssociatedData, ChannelRole } from './associated-data.js';
export type { HandshakeOptions, HandshakeResult } from './handshake.js';
export type { OpenSecureChannelOptions } from './open-secure-channel.js';
export type { PairingCode } from './pairing-code.js';
export type { AcknowledgementOptions } from './ack-schedule.js';
export type {
  CarrierState,
  ChannelStats,
  ResumeInfo,
  ResumeOptions,
  SecureChannelEvents,
  SecureChannelOptions,
} from './secure-channel.js';
export type { MessageTransport, MessageTransportEvents, TransportCloseInfo } from './transport.js';
export { HandshakeShare, runAgentHandshake, runClientHandshake } from './handshake.js';
export { MemoryTransport } from './memory-transport.js';
export { openSecureChannel } from './open-secure-channel.js';
export {
  formatPairingCode,
  generatePairingSecret,
  isValidNameplate,
  newPairingCode,
  pairingSecretBytes,
  parsePairingCode,
} from './pairing-code.js';
export { SecureChannel } from './secure-channel.js';
