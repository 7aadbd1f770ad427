/**
 * Every limit kubepair enforces, as named constants with their units (CONVENTIONS §5).
 * Defaults come from DESIGN §3 and §4. Components take overrides only through validated
 * configuration; nothing else hard-codes these numbers.
 */

// --- pairing code (DESIGN §4) ---
/** Decimal digits in the secret part of a pairing code. */
export const PAIRING_SECRET_DIGITS = 8;
/** Most decimal digits a nameplate may have (nameplates stay short: lowest free number). */
export const NAMEPLATE_MAX_DIGITS = 7;
/** Longest pairing-code input accepted before parsing, in characters. */
export const PAIRING_CODE_INPUT_MAX_CHARS = 64;
/** Failed pairings an agent accepts per session before it discards the code. */
export const PAIRING_MAX_ATTEMPTS = 5;

// --- handshake (DESIGN §4) ---
/** Largest ADa / ADb associated-data JSON, in bytes. */
export const HANDSHAKE_AD_MAX_BYTES = 1024; // 1 KiB
/** Most capability strings in ADa / ADb, and the longest one, in characters. */
export const HANDSHAKE_CAPS_MAX_COUNT = 32;
export const HANDSHAKE_CAP_MAX_CHARS = 64;
/** How long one handshake step may wait for the peer's message. */
export const HANDSHAKE_STEP_TIMEOUT_MS = 15_000; // 15 s

// --- record layer (DESIGN §4) ---
/** Records sealed under one key before the sender must switch keys (KEY_UPDATE). */
export const RECORD_KEY_UPDATE_LIMIT = 2 ** 24;
/** Largest binary frame (one record) accepted, in bytes; equals the WebSocket message limit. */
export const RECORD_MAX_FRAME_BYTES = 16 * 1024 * 1024; // 16 MiB
/** Largest MUX payload a sender puts in one record, in bytes. */
export const RECORD_MUX_CHUNK_BYTES = 64 * 1024; // 64 KiB
/** Largest CONTROL record JSON, in bytes. */
export const CONTROL_MAX_BYTES = 64 * 1024; // 64 KiB
/** Inbound MUX bytes buffered before the channel stops reading the transport. */
export const CHANNEL_READ_HIGH_WATER_BYTES = 1024 * 1024; // 1 MiB

// --- WebSocket (DESIGN §3) ---
/** Largest WebSocket message on every side, in bytes. */
export const WS_MAX_MESSAGE_BYTES = 16 * 1024 * 1024; // 16 MiB

// --- relay (DESIGN §3) ---
// Defaults of `kubepair relay`; every one is overridable by a flag and a KUBEPAIR_RELAY_*
// variable (src/relay/relay-options.ts validates the ranges).
/** Address the relay listens on when none is given. */
export const RELAY_DEFAULT_LISTEN = '127.0.0.1:8443';
/** How long a session may wait to be paired before it expires. */
export const RELAY_UNPAIRED_TTL_MS = 120_000; // 120 s
/** How long an established session may live. */
export const RELAY_ESTABLISHED_LIFETIME_MS = 8 * 60 * 60 * 1000; // 8 h
/** How long a client that was given a client_key may take to open its WebSocket. */
export const RELAY_CLAIM_CONNECT_TIMEOUT_MS = 30_000; // 30 s
/** Failed pairing attempts the relay allows per session; the last one destroys it. */
export const RELAY_MAX_PAIRING_ATTEMPTS = PAIRING_MAX_ATTEMPTS;
/** Largest WebSocket message the relay accepts, in bytes (close 1009 above it). */
export const RELAY_MAX_MESSAGE_BYTES = WS_MAX_MESSAGE_BYTES; // 16 MiB
/** Requests per minute per client address on /api/*. */
export const RELAY_API_RATE_LIMIT_PER_MINUTE = 20;
/** Live sessions on one relay, in total, per relay token and per client address. */
export const RELAY_MAX_SESSIONS = 10_000;
export const RELAY_MAX_SESSIONS_PER_TOKEN = 1_000;
export const RELAY_MAX_SESSIONS_PER_ADDRESS = 50;
/** Open TCP connections (HTTP and WebSocket) the relay accepts at once. */
export const RELAY_MAX_CONNECTIONS = 25_000;
/** Interval between WebSocket pings to each peer. */
export const RELAY_PING_INTERVAL_MS = 30_000; // 30 s
/** A peer that sent nothing (not even a pong) for this long is dropped. */
export const RELAY_PEER_SILENCE_TIMEOUT_MS = 90_000; // 90 s
/**
 * Bytes the relay may have queued towards one peer before it stops reading the other peer
 * (per direction, so a session holds at most about twice this plus one message).
 */
export const RELAY_MAX_BUFFERED_BYTES = 1024 * 1024; // 1 MiB
/** How long before a session's end the relay sends `{"type":"expiring"}` to its peers. */
export const RELAY_EXPIRING_NOTICE_MS = 60_000; // 60 s
/** On SIGTERM: how long live peers may keep going after `expiring` before they are closed. */
export const RELAY_SHUTDOWN_GRACE_MS = 5_000; // 5 s
/** After sending a close frame, how long the relay waits for the peer's before cutting the socket. */
export const RELAY_CLOSE_HANDSHAKE_TIMEOUT_MS = 5_000; // 5 s
/** Largest JSON body of a relay API request, in bytes. */
export const RELAY_MAX_REQUEST_BODY_BYTES = 4 * 1024; // 4 KiB
/** How long one HTTP request (headers and body) may take to arrive. */
export const RELAY_REQUEST_TIMEOUT_MS = 10_000; // 10 s
/** Largest text (control) frame the relay accepts from a peer, in bytes. */
export const RELAY_CONTROL_MESSAGE_MAX_BYTES = 1024; // 1 KiB
/** Client addresses whose refused WebSocket upgrades and browser origins the relay tracks at once. */
export const RELAY_UPGRADE_FAILURE_ADDRESSES = 10_000;
/** Most tokens in one tokens file. */
export const RELAY_MAX_TOKENS = 1_000;
/** Largest tokens file the relay reads, in bytes. */
export const RELAY_TOKENS_FILE_MAX_BYTES = 1024 * 1024; // 1 MiB
/** Longest relay token name, in characters. */
export const RELAY_TOKEN_NAME_MAX_CHARS = 64;
/** How often the relay writes tokens' "last used" times to disk (at most). */
export const RELAY_TOKEN_LAST_USED_FLUSH_MS = 60_000; // 60 s
/**
 * Log bytes the relay may hold for a slow standard output; lines beyond are dropped (and
 * counted) instead of stalling forwarding or growing memory.
 */
export const RELAY_LOG_BUFFER_MAX_BYTES = 16 * 1024 * 1024; // 16 MiB
/** Quiet period after a tokens-file change before the relay reloads it. */
export const RELAY_TOKENS_RELOAD_DEBOUNCE_MS = 100; // 100 ms

// --- relay client (DESIGN §3) ---
/** How long one relay API request may take, connect to last byte. */
export const RELAY_CLIENT_REQUEST_TIMEOUT_MS = 15_000; // 15 s
/** Largest relay API response body the client reads, in bytes. */
export const RELAY_CLIENT_RESPONSE_MAX_BYTES = 64 * 1024; // 64 KiB
/** How long the WebSocket opening handshake with the relay may take. */
export const RELAY_CLIENT_HANDSHAKE_TIMEOUT_MS = 15_000; // 15 s
/** Interval of the client's own WebSocket pings to the relay. */
export const RELAY_CLIENT_PING_INTERVAL_MS = 30_000; // 30 s
/** The relay socket is given up when nothing (no frame, no pong) came from the relay this long. */
export const RELAY_CLIENT_SILENCE_TIMEOUT_MS = 90_000; // 90 s
/** Bytes queued on the relay socket before `send` asks the caller to wait for `drain`. */
export const RELAY_CLIENT_SEND_HIGH_WATER_BYTES = 1024 * 1024; // 1 MiB
