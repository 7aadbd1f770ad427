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

// --- multiplexing (DESIGN §5) ---
/** HTTP/2 flow-control window per CONNECT stream, sized for a relay on another continent. */
export const MUX_STREAM_WINDOW_BYTES = 4 * 1024 * 1024; // 4 MiB
/** HTTP/2 flow-control window for the whole connection. */
export const MUX_CONNECTION_WINDOW_BYTES = 32 * 1024 * 1024; // 32 MiB
/** Concurrent CONNECT streams the agent accepts. */
export const MUX_MAX_CONCURRENT_STREAMS = 256;
/** Longest wait for the agent to accept a CONNECT stream. */
export const MUX_OPEN_TIMEOUT_MS = 15_000; // 15 s
/** Longest target name in a CONNECT :authority. */
export const MUX_TARGET_NAME_MAX_CHARS = 63;

// --- agent policy (DESIGN §6) ---
/** Most `--allow` rules, and separately most `--deny` rules, one policy accepts. */
export const POLICY_MAX_RULES = 64;
/** Longest policy rule, in characters. */
export const POLICY_RULE_MAX_CHARS = 512;
/**
 * Longest request target (path and query) the policy classifies, in characters; a longer one
 * is ambiguous. Equals Node's default limit for the whole request head (16 KiB).
 */
export const POLICY_REQUEST_TARGET_MAX_CHARS = 16 * 1024;
/** Most impersonation header values in one request; more are refused as ambiguous. */
export const POLICY_MAX_IMPERSONATION_VALUES = 32;
/** Longest request description (`delete pods`, `get /version`) put in a message, in characters. */
export const POLICY_DESCRIPTION_MAX_CHARS = 160;

// --- audit log and redaction (DESIGN §6) ---
/** Default size at which the audit log is rotated, in bytes. */
export const AUDIT_ROTATE_DEFAULT_BYTES = 100 * 1024 * 1024; // 100 MiB
/** Smallest rotation size accepted, in bytes. */
export const AUDIT_ROTATE_MIN_BYTES = 1024; // 1 KiB
/** Default and largest number of rotated audit files kept next to the current one. */
export const AUDIT_KEEP_DEFAULT_FILES = 10;
export const AUDIT_KEEP_MAX_FILES = 1000;
/** Largest audit line (one record, chain fields included, without the newline), in bytes. */
export const AUDIT_RECORD_MAX_BYTES = 256 * 1024; // 256 KiB
/** Records accepted by `append` and not yet written before appends are refused (backpressure). */
export const AUDIT_MAX_PENDING_RECORDS = 4096;
/** Longest string the redaction module scans; longer strings are replaced whole, in UTF-16 code units. */
export const REDACT_MAX_STRING_CHARS = 64 * 1024; // 64 Ki characters
/** Deepest nesting of objects and arrays the redaction module descends into; deeper values are replaced. */
export const REDACT_MAX_DEPTH = 16;

// --- certificates (src/tls, DESIGN §6) ---
/** Default lifetime of a throw-away CA and of the certificates it issues (covers an 8 h session). */
export const TLS_DEFAULT_VALIDITY_MS = 24 * 60 * 60 * 1000; // 24 h
/** Longest lifetime any certificate from src/tls may have; throw-away CAs stay short-lived. */
export const TLS_MAX_VALIDITY_MS = 7 * 24 * 60 * 60 * 1000; // 7 days
/** How far notBefore is set in the past, so a peer clock slightly behind still accepts the certificate. */
export const TLS_NOT_BEFORE_BACKDATE_MS = 60 * 1000; // 1 min
/** Longest common name, organization (group) or DNS label sequence accepted, in characters. */
export const TLS_NAME_MAX_CHARS = 128;
/** Longest DNS name in a subjectAltName, in characters (RFC 1035 §2.3.4). */
export const TLS_DNS_NAME_MAX_CHARS = 253;
/** Most DNS plus IP subjectAltNames in one server certificate. */
export const TLS_MAX_SUBJECT_ALT_NAMES = 32;
/** Most groups (subject O attributes) in one client certificate. */
export const TLS_MAX_GROUPS = 32;
/** Random bytes in a certificate serial number (RFC 5280 §4.1.2.2 allows up to 20 octets). */
export const TLS_SERIAL_BYTES = 16;
