/** Public surface of the relay role (docs/design.md §3): what the CLI and tests use. */
export { RelayServer } from './relay-server.js';
export type { RelayAddress } from './relay-server.js';
export {
  DEFAULT_RELAY_LIMITS,
  RELAY_LIMIT_OPTIONS,
  RELAY_LOG_LEVELS,
  checkRelayConfig,
  defaultAuditLogPath,
  defaultTokensFile,
  formatLimit,
  parseListenAddress,
  resolveRelayLimits,
} from './relay-options.js';
export type { LimitOption, RawOptionValue, RelayConfig, RelayLimits, RelayLogLevel } from './relay-options.js';
export { TOKEN_SCOPES, checkTokenName, checkTokenScope, createToken, listTokens, revokeToken } from './token-file.js';
export type { TokenListing, TokenScope } from './token-file.js';
export { MemorySessionStore } from './memory-session-store.js';
export type { SessionStore, SessionPolicy, SessionRecord } from './session-store.js';
