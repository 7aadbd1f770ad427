/** Public surface of the relay client (docs/design.md §3): what the agent and the client use. */
export { createSession, pair } from './relay-api.js';
export type { CreatedSession, PairedSession, RelayCallOptions } from './relay-api.js';
export { isLoopbackHost, resolveRelay } from './relay-endpoint.js';
export type { RelayEndpoint, ResolvedRelay } from './relay-endpoint.js';
export { RelaySocket, openRelaySocket } from './relay-socket.js';
export type { RelayControlEvents, RelaySocketOptions } from './relay-socket.js';
export { errorFromCloseCode, errorFromRelayAnswer } from './relay-error-mapping.js';
export { reconnectVerdict } from './reconnect-verdict.js';
export type { ReconnectVerdict } from './reconnect-verdict.js';
export { DurableLink, LinkTimingSchema, backoffDelayMs, jitterSource, reconnectDelayMs, sleep, DEFAULT_LINK_TIMING } from './durable-link.js';
export { neverReachedRelay } from './unreached-relay.js';
export { parseRetryAfter } from './retry-after.js';
export type { DurableLinkEvents, DurableLinkOptions, LinkDrop, LinkTiming } from './durable-link.js';
