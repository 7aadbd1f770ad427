/** Public surface of the multiplexing layer. */
export type { MuxClientOptions } from './mux-client.js';
export type { GateVerdict, MuxServerEvents, MuxServerOptions, StreamGate, StreamInfo, StreamOutcome, TargetHandler } from './mux-server.js';
export type { MuxWindowOptions } from './mux-settings.js';
export { MuxClient } from './mux-client.js';
export { MuxServer } from './mux-server.js';
export { splice } from './splice.js';
export type { StreamRefusalReason } from './stream-refusal.js';
export { STREAM_REFUSALS, STREAM_REFUSAL_HEADER, knownRefusal } from './stream-refusal.js';
export type { SpliceCounters } from './splice.js';
