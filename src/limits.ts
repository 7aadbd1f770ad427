/**
 * Every limit kubepair enforces, as named constants with their units (CONVENTIONS §5).
 * Defaults come from docs/design.md §3 and §4. Components take overrides only through validated
 * configuration; nothing else hard-codes these numbers.
 */

// --- pairing code (docs/design.md §4) ---
/** Decimal digits in the secret part of a pairing code. */
export const PAIRING_SECRET_DIGITS = 8;
/** Most decimal digits a nameplate may have (nameplates stay short: lowest free number). */
export const NAMEPLATE_MAX_DIGITS = 7;
/** Longest pairing-code input accepted before parsing, in characters. */
export const PAIRING_CODE_INPUT_MAX_CHARS = 64;
/** Failed pairings an agent accepts per session before it discards the code. */
export const PAIRING_MAX_ATTEMPTS = 5;

// --- handshake (docs/design.md §4) ---
/** Largest ADa / ADb associated-data JSON, in bytes. */
export const HANDSHAKE_AD_MAX_BYTES = 1024; // 1 KiB
/** Most capability strings in ADa / ADb, and the longest one, in characters. */
export const HANDSHAKE_CAPS_MAX_COUNT = 32;
export const HANDSHAKE_CAP_MAX_CHARS = 64;
/** How long one handshake step may wait for the peer's message. */
export const HANDSHAKE_STEP_TIMEOUT_MS = 15_000; // 15 s

// --- record layer (docs/design.md §4) ---
/** Records sealed under one key before the sender must switch keys (KEY_UPDATE). */
export const RECORD_KEY_UPDATE_LIMIT = 2 ** 24;
/** Largest binary frame (one record) accepted, in bytes; equals the WebSocket message limit. */
export const RECORD_MAX_FRAME_BYTES = 16 * 1024 * 1024; // 16 MiB
/**
 * Largest MUX payload a sender puts in one record, in bytes. Each record costs a cipher
 * set-up, a WebSocket frame and a write on every hop, so bulk transfers want them large;
 * small writes are sealed as they come and never wait to fill one (docs/performance.md).
 */
export const RECORD_MUX_CHUNK_BYTES = 256 * 1024; // 256 KiB
/** Outbound MUX bytes the channel accepts before `write` returns false (then 'drain'). */
export const CHANNEL_WRITE_HIGH_WATER_BYTES = 256 * 1024; // 256 KiB
/** Largest CONTROL record JSON, in bytes. */
export const CONTROL_MAX_BYTES = 64 * 1024; // 64 KiB

// --- acknowledged records and resumption (docs/design.md §8.1) ---
/**
 * Sealed records a sender keeps until the peer acknowledges them, in bytes (frames as sent).
 * At this bound the channel stops accepting MUX writes (backpressure) until an ACK frees
 * room. It is the HTTP/2 connection window (MUX_CONNECTION_WINDOW_BYTES, 32 MiB) plus room
 * for what that window does not count: record and HTTP/2 frame overhead, HTTP/2 frames outside
 * flow control, and the receiver's ACK lag (up to CHANNEL_ACK_EVERY_BYTES). So on a healthy link,
 * and during an outage too, HTTP/2's own flow control stops the writers first and this bound is
 * the safety net docs/design.md §8.1 asks for. Kept by each endpoint, never by the relay.
 */
export const CHANNEL_RETRANSMIT_MAX_BYTES = 40 * 1024 * 1024; // 40 MiB
/**
 * Inbound MUX bytes buffered before the channel stops reading the transport (docs/protocol.md
 * §9). As large as CHANNEL_RETRANSMIT_MAX_BYTES, for the same reason: more than the HTTP/2
 * connection window (MUX_CONNECTION_WINDOW_BYTES) plus overhead, so a peer that keeps to its
 * window can never make this side stop reading. Node.js 22's HTTP/2 stops reading its socket
 * while one of its own writes is waiting (node_http2.cc MaybeStopReading; 24 and 26 do not);
 * with 1 MiB here, a busy tunnel on Node.js 22 stalled for good once both ends waited at once:
 * each one's write waited for the other to read (docs/performance.md, "Heavy streams
 * at once on Node.js 22"). Only a peer beyond its window fills this.
 */
export const CHANNEL_READ_HIGH_WATER_BYTES = CHANNEL_RETRANSMIT_MAX_BYTES; // 40 MiB
/** A receiver acknowledges at the latest after this many ACK-eliciting records (MUX, CONTROL, KEY_UPDATE). */
export const CHANNEL_ACK_EVERY_RECORDS = 64;
/** ... or after this many bytes of ACK-eliciting frames, whichever comes first. */
export const CHANNEL_ACK_EVERY_BYTES = 1024 * 1024; // 1 MiB
/** ... or this long after the first record it has not acknowledged yet (an idle link). */
export const CHANNEL_ACK_DELAY_MS = 20; // 20 ms
/** How long `resume` waits for the peer's RESUME on a new carrier before that attempt fails. */
export const RESUME_STEP_TIMEOUT_MS = 15_000; // 15 s

// --- endpoints keeping a session alive across carriers (docs/design.md §8.1 "Liveness") ---
/** The resume window `share` asks the relay for unless `--resume-window` says otherwise. */
export const DEFAULT_RESUME_WINDOW_MS = 10 * 60_000; // 10 min
/** First reconnect delay after a carrier is lost (then doubled per failed attempt, jittered). */
export const RECONNECT_INITIAL_DELAY_MS = 250; // 250 ms
/** Longest delay between two reconnect attempts (the cap of the exponential backoff). */
export const RECONNECT_MAX_DELAY_MS = 5_000; // 5 s
/** Each backoff delay is drawn uniformly from [delay × (1 - this), delay]: "equal jitter" below 1. */
export const RECONNECT_JITTER_FRACTION = 0.5;
/**
 * Cap of the backoff after an attempt that never reached a relay (connection refused: the relay
 * is restarting; no route: this machine is offline). Such attempts cost the relay nothing, and
 * the cap bounds how long after the relay listens again the next attempt comes (issue 12: bytes
 * flow again under 1 s after the relay answers). Jittered like the rest.
 */
export const RECONNECT_UNREACHED_MAX_DELAY_MS = 500; // 500 ms
/** Longest wait the relay's `Retry-After` may impose on one reconnect attempt. */
export const RECONNECT_RETRY_AFTER_MAX_MS = 60_000; // 60 s
/** With nothing else to send, an endpoint sends a ping CONTROL this often to draw an ACK. */
export const LINK_IDLE_PING_MS = 2_000; // 2 s
/** A carrier on which the peer has owed an ACK this long is given up as dead (a black hole). */
export const LINK_ACK_DEADLINE_MS = 8_000; // 8 s
/** How often the acknowledgement deadline is checked. */
export const LINK_CHECK_INTERVAL_MS = 500; // 500 ms
/** How long a new local connection waits for a suspended tunnel before it is refused. */
export const TUNNEL_OUTAGE_WAIT_MS = 60_000; // 60 s

// --- WebSocket (docs/design.md §3) ---
/** Largest WebSocket message on every side, in bytes. */
export const WS_MAX_MESSAGE_BYTES = 16 * 1024 * 1024; // 16 MiB

// --- multiplexing (docs/design.md §5) ---
/** HTTP/2 flow-control window per CONNECT stream, sized for a relay on another continent. */
export const MUX_STREAM_WINDOW_BYTES = 4 * 1024 * 1024; // 4 MiB
/** HTTP/2 flow-control window for the whole connection. */
export const MUX_CONNECTION_WINDOW_BYTES = 32 * 1024 * 1024; // 32 MiB
/** Concurrent CONNECT streams the agent accepts. */
export const MUX_MAX_CONCURRENT_STREAMS = 256;
/**
 * Bytes a splice (src/mux/splice.ts) lets wait in one side's write buffer before it pauses the
 * other side: room for the chunks of one MUX record (RECORD_MUX_CHUNK_BYTES) written in one
 * batch, so a record's 16 KiB HTTP/2 DATA payloads leave in one system call, not sixteen.
 */
export const SPLICE_WRITE_BUFFER_BYTES = 256 * 1024; // 256 KiB
/**
 * Bytes a target socket of the agent reads at once (src/mux/socket-reads.ts), instead of Node's
 * 64 KiB: a full read becomes one MUX record with its HTTP/2 frame headers (16 DATA frames of
 * at most 16 KiB, 9 bytes of header each) and still fits RECORD_MUX_CHUNK_BYTES.
 */
export const SOCKET_READ_BYTES = 255 * 1024; // 255 KiB
/** Longest wait for the agent to accept a CONNECT stream. */
export const MUX_OPEN_TIMEOUT_MS = 15_000; // 15 s
/** Longest target name in a CONNECT :authority. */
export const MUX_TARGET_NAME_MAX_CHARS = 63;
/** Most targets a session offers (kube-apiserver and --expose names), and most --forward ports a client opens. */
export const SESSION_TARGETS_MAX = 32;

// --- agent policy (docs/design.md §6) ---
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

// --- live approval, `share --approve` (src/agent/approval-queue.ts; docs/usage.md "Live approval") ---
/** How long a held request waits for the sharer's answer before it is declined (`--approve-timeout`). */
export const APPROVAL_TIMEOUT_MS = 2 * 60_000; // 2 min
/** Shortest and longest `--approve-timeout`. */
export const APPROVAL_TIMEOUT_MIN_MS = 1_000; // 1 s
export const APPROVAL_TIMEOUT_MAX_MS = 60 * 60_000; // 1 h
/**
 * Most requests held for the sharer at once, across the share's sessions; one more is refused at
 * once (audited), so a client flooding requests cannot grow the queue or bury the prompt.
 */
export const APPROVAL_QUEUE_MAX = 8;
/** Most `--allow` rules "approve for the session" adds to one session. */
export const APPROVAL_SESSION_RULES_MAX = 32;

// --- agent reverse proxy (docs/design.md §6) ---
/** Largest response head (status line and headers) the agent reads on an upgrade, in bytes. */
export const UPGRADE_RESPONSE_HEAD_MAX_BYTES = 16 * 1024; // 16 KiB, Node's default header limit
/** How long the agent waits for the answer head of an upgrade request. */
export const UPGRADE_RESPONSE_HEAD_TIMEOUT_MS = 30_000; // 30 s
/** Largest request head (request line and header fields) the agent reads from the client, in bytes. */
export const AGENT_REQUEST_HEAD_MAX_BYTES = 64 * 1024; // 64 KiB
/** Most header fields in one request head. */
export const AGENT_REQUEST_HEADERS_MAX_COUNT = 256;
/** Longest chunk-size line (size and extensions) of a chunked body, in bytes. */
export const AGENT_CHUNK_LINE_MAX_BYTES = 4 * 1024; // 4 KiB
/** Most bytes of trailer fields after a chunked body (read and dropped), in bytes. */
export const AGENT_TRAILER_MAX_BYTES = 16 * 1024; // 16 KiB
/** Bytes the client may pipeline behind a request being answered before the agent stops reading. */
export const AGENT_PIPELINE_MAX_BYTES = 64 * 1024; // 64 KiB
/** A request head that has started must be complete within this time. */
export const AGENT_REQUEST_HEAD_TIMEOUT_MS = 60_000; // 60 s
/** A client connection with no request in progress is closed after this time. */
export const AGENT_CONNECTION_IDLE_TIMEOUT_MS = 5 * 60_000; // 5 min
/** How long a TCP and TLS connection to the API server may take. */
export const API_SERVER_CONNECT_TIMEOUT_MS = 30_000; // 30 s
/** HTTP/2 flow-control window per stream the agent offers the API server (large responses, watches). */
export const API_SERVER_H2_STREAM_WINDOW_BYTES = 4 * 1024 * 1024; // 4 MiB
/** HTTP/2 flow-control window of the agent's whole connection to the API server. */
export const API_SERVER_H2_CONNECTION_WINDOW_BYTES = 32 * 1024 * 1024; // 32 MiB
/**
 * Response bytes the agent hands to a client's tunnel stream ahead of what the stream has sent,
 * before it stops reading the API server's answer (backpressure). The tunnel stream's own mark
 * (16 KiB) paused a 143 KB list page three times, each pause a round of event-loop turns in
 * every process on the path (docs/performance.md "kubectl get through proxy mode").
 */
export const AGENT_RESPONSE_AHEAD_MAX_BYTES = 1024 * 1024; // 1 MiB
/** After the API server ended an upgraded stream, how long the client may take to close its side. */
export const UPGRADE_CLIENT_CLOSE_GRACE_MS = 10_000; // 10 s
/**
 * When the agent cuts an exec or attach session and tells the client why (a Status on the error
 * channel, then a close frame: docs/audit.md "Cut sessions"), how long those bytes may take to
 * leave the tunnel stream before it is destroyed instead (a client that does not read).
 */
export const UPGRADE_CUT_FLUSH_TIMEOUT_MS = 2_000; // 2 s
/** While audit writes keep failing, `share` prints at most one line about it per this interval. */
export const SHARE_AUDIT_ERROR_REPORT_INTERVAL_MS = 10_000; // 10 s

// --- agent: paired sessions (docs/design.md §1, §6) ---
/** How long a paired session may last unless `share --max-duration` says otherwise. */
export const SHARE_SESSION_LIFETIME_MS = 8 * 60 * 60 * 1000; // 8 h
/** The shortest `--max-duration` accepted. */
export const SHARE_SESSION_LIFETIME_MIN_MS = 60 * 1000; // 1 min

// --- agent: passthrough credentials (docs/design.md §6) ---
/**
 * Shortest ServiceAccount token lifetime asked of the TokenRequest API, in seconds: Kubernetes
 * refuses less (spec.expirationSeconds >= 600), so a shorter session still gets a 10 min token.
 */
export const SERVICE_ACCOUNT_TOKEN_MIN_SECONDS = 10 * 60; // 10 min
/** How long a TokenRequest may wait on a silent API server (socket idle time). */
export const TOKEN_REQUEST_TIMEOUT_MS = 30_000; // 30 s
/** Largest TokenRequest answer the agent reads, in bytes (a JWT is a few KiB). */
export const TOKEN_REQUEST_ANSWER_MAX_BYTES = 1024 * 1024; // 1 MiB
/** Longest API server message quoted in an error, in characters. */
export const UPSTREAM_MESSAGE_MAX_CHARS = 300;

// --- audit log and redaction (docs/design.md §6) ---
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
/** Rounds an audit writer tries to take its file's lock (each round creates it, refuses, or removed a stale lock). */
export const AUDIT_LOCK_ATTEMPTS = 50;
/** Wait before the next round while another process takes over a stale audit lock, in milliseconds. */
export const AUDIT_LOCK_RETRY_MS = 10; // 10 ms
/** Largest audit lock file read, in bytes (a kubepair lock is about 200). */
export const AUDIT_LOCK_MAX_BYTES = 4096; // 4 KiB
/** Longest string the redaction module scans; longer strings are replaced whole, in UTF-16 code units. */
export const REDACT_MAX_STRING_CHARS = 64 * 1024; // 64 Ki characters
/** Deepest nesting of objects and arrays the redaction module descends into; deeper values are replaced. */
export const REDACT_MAX_DEPTH = 16;

// --- recorded exec, attach and debug sessions (docs/audit.md "Recorded sessions") ---
/**
 * Largest recording of one exec/attach session, in bytes of the asciicast file. At the limit the
 * session is ended (fail closed), or, with --recording-fail-open, recording stops with a marker
 * and the session goes on unrecorded.
 */
export const RECORDING_MAX_BYTES = 64 * 1024 * 1024; // 64 MiB
/** Most characters of terminal data in one recorded event; longer data is split over several events. */
export const RECORDING_EVENT_MAX_CHARS = 16 * 1024; // 16 Ki characters
/** Longest line `kubepair audit play` and `audit verify` read from a recording, in bytes. */
export const RECORDING_LINE_MAX_BYTES = 1024 * 1024; // 1 MiB
/** Longest typed line held for redaction before it is recorded anyway (--record-input), in characters. */
export const RECORDING_INPUT_LINE_MAX_CHARS = 4096; // 4 Ki characters
/**
 * Longest visible output line the recorder still judges as a possible password prompt
 * (--record-input; src/audit/password-prompt.ts), in characters; a longer line is not a prompt.
 */
export const PASSWORD_PROMPT_LINE_MAX_CHARS = 512;
/** Largest terminal-resize message read (channel 4, JSON `{"Width":W,"Height":H}`), in bytes. */
export const RECORDING_RESIZE_MESSAGE_MAX_BYTES = 256; // 256 B
/** Largest terminal size recorded as a resize, in columns and rows; larger values are ignored. */
export const RECORDING_TERMINAL_MAX_CELLS = 10_000;
/** Terminal size in the recording's header until the client reports its own (the asciicast header needs one). */
export const RECORDING_DEFAULT_COLUMNS = 80;
export const RECORDING_DEFAULT_ROWS = 24;
/** Largest WebSocket control frame payload, in bytes (RFC 6455 §5.5: 125); a larger one ends the session. */
export const WEBSOCKET_CONTROL_PAYLOAD_MAX_BYTES = 125; // 125 B
/** Longest replay pause `kubepair audit play` waits between two events unless --idle-limit says otherwise, in seconds. */
export const RECORDING_PLAY_DEFAULT_IDLE_LIMIT_S = 5; // 5 s

// --- certificates (src/tls, docs/design.md §6) ---
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

// --- relay (docs/design.md §3) ---
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
/**
 * The per-address limits count an IPv6 client by this prefix (its /64), an IPv4 client by its
 * whole address (src/relay/client-address.ts `addressLimitKey`). A multiple of 16.
 */
export const RELAY_IPV6_LIMIT_PREFIX_BITS = 64;
/** Requests per minute per client address on /api/*. */
export const RELAY_API_RATE_LIMIT_PER_MINUTE = 20;
/** Live sessions on one relay, in total, per relay token and per client address. */
export const RELAY_MAX_SESSIONS = 10_000;
export const RELAY_MAX_SESSIONS_PER_TOKEN = 1_000;
export const RELAY_MAX_SESSIONS_PER_ADDRESS = 50;
/** Open TCP connections (HTTP and WebSocket) the relay accepts at once. */
export const RELAY_MAX_CONNECTIONS = 25_000;
/**
 * Open TCP connections from one peer address (the TCP peer, never a header; trusted proxies are
 * exempt). Room for a NAT'ed office at the session bound per address (two sockets per session)
 * plus its API calls, while one address cannot take every slot.
 */
export const RELAY_MAX_CONNECTIONS_PER_ADDRESS = 256;
/**
 * How long a client may take from opening a connection (or finishing the previous request on a
 * kept-alive one) to a complete request head, HTTP or WebSocket upgrade; TLS handshakes too.
 */
export const RELAY_HEAD_TIMEOUT_MS = 10_000; // 10 s
/** How often the HTTP server looks for connections past the head or request timeout (Node's default is 30 s). */
export const RELAY_CONNECTION_CHECK_INTERVAL_MS = 1_000; // 1 s
/** Interval between WebSocket pings to each peer. */
export const RELAY_PING_INTERVAL_MS = 30_000; // 30 s
/** A peer that sent nothing (not even a pong) for this long is dropped. */
export const RELAY_PEER_SILENCE_TIMEOUT_MS = 90_000; // 90 s
/**
 * The relay's liveness sweep (src/relay/liveness-sweep.ts) looks at the peers due for a ping or a
 * silence check this many times per ping interval: a ping goes out at most 1/16 of the interval
 * late and a silent peer is dropped at most that long after its silence limit.
 */
export const RELAY_LIVENESS_SWEEP_SLOTS = 16;
/** Peers the liveness sweep checks in one event-loop turn; the rest of a busy slot waits for the next turn. */
export const RELAY_LIVENESS_SWEEP_BATCH = 1_000;
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
/**
 * The relay's reads of a session's sockets (src/relay/read-slabs.ts): a quiet socket reads into
 * the node's one shared buffer of this size (what Node reads at a time), copying what it keeps.
 */
export const RELAY_READ_SHARED_BYTES = 64 * 1024; // 64 KiB
/** A read of at least this much makes a socket busy: it reads into a slab of its own until quiet again. */
export const RELAY_READ_BUSY_BYTES = 16 * 1024; // 16 KiB (one TLS record's worth)
/** A busy socket's slab: reads follow each other in it, and frames are forwarded as views of it. */
export const RELAY_READ_SLAB_BYTES = 1024 * 1024; // 1 MiB
/** ... and the incomplete frame moves to the start of a slab when less than this is left for the next read. */
export const RELAY_READ_MIN_ROOM_BYTES = 256 * 1024; // 256 KiB
/**
 * Bytes left free before an incomplete frame moved within or between slabs, where its server
 * header (at most 10 bytes, RFC 6455 §5.2) is written so a TLS socket gets the frame as one buffer.
 */
export const RELAY_FRAME_HEADER_ROOM_BYTES = 10; // 10 bytes
/**
 * A queued piece of a relay TLS socket at least this large is written on its own, not joined with
 * its neighbours into a new buffer (src/relay/tls-writes.ts); one TLS record's worth.
 */
export const RELAY_TLS_WRITE_ALONE_BYTES = 16 * 1024; // 16 KiB
/** Free slabs a node keeps for sockets that get busy (at most this many × RELAY_READ_SLAB_BYTES held idle). */
export const RELAY_READ_SLAB_POOL = 8;
/** Largest JSON body of a relay API request, in bytes. */
export const RELAY_MAX_REQUEST_BODY_BYTES = 4 * 1024; // 4 KiB
/** How long one HTTP request (headers and body) may take to arrive. */
export const RELAY_REQUEST_TIMEOUT_MS = 10_000; // 10 s
/** Largest text (control) frame the relay accepts from a peer, in bytes. */
export const RELAY_CONTROL_MESSAGE_MAX_BYTES = 1024; // 1 KiB
/** Client addresses whose unauthenticated failures the relay counts at once (the failure budget). */
export const RELAY_FAILURE_BUDGET_ADDRESSES = 10_000;
/** The failure budget's window: `--rate-limit` unauthenticated failures per address per window. */
export const RELAY_FAILURE_BUDGET_WINDOW_MS = 60_000; // 1 min
/** Refusals of one address are summed into one audit record per this window. */
export const RELAY_REFUSAL_AUDIT_WINDOW_MS = 60_000; // 1 min
/**
 * Addresses whose refusals are summed per window; refusals of further addresses go into one
 * record for all of them. Bounds the audit lines per window to about 5 per tracked address.
 */
export const RELAY_REFUSAL_AUDIT_ADDRESSES = 512;
/** Audit records the relay lets wait for the disk before it refuses more (and turns not ready). */
export const RELAY_AUDIT_BACKLOG = AUDIT_MAX_PENDING_RECORDS;
/** After a failed audit write, how often the relay tries to record the loss (readiness returns when it succeeds). */
export const RELAY_AUDIT_RECOVERY_RETRY_MS = 1_000; // 1 s
/**
 * How long a freed nameplate stays out of use, so a stale code typed later finds no session
 * instead of costing a newer one an attempt.
 */
export const RELAY_NAMEPLATE_QUARANTINE_MS = 10 * 60_000; // 10 min
/**
 * Most nameplates in quarantine at once. Past it the oldest is freed early, so nameplates stay
 * below (sessions live at the peak) + this + 1 whatever the churn: 5 digits at the defaults.
 */
export const RELAY_NAMEPLATE_QUARANTINE_MAX = 10_000;
// --- the Redis session store (src/relay/redis-session-store.ts; docs/design.md §8.2) ---
/** How long the relay waits for a TCP (and TLS) connection to Redis, in ms. */
export const RELAY_STORE_CONNECT_TIMEOUT_MS = 5_000; // 5 s
/** How long one store operation may wait for Redis before it fails with KP_ERR_RELAY_STORE_UNAVAILABLE, in ms. */
export const RELAY_STORE_COMMAND_TIMEOUT_MS = 5_000; // 5 s
/** Longest wait between two attempts to reconnect to Redis, in ms (the backoff doubles up to it). */
export const RELAY_STORE_RECONNECT_MAX_MS = 5_000; // 5 s
/** Deadlines (expiries, claim and resume deadlines) one Redis script processes at a time. */
export const RELAY_STORE_DUE_BATCH = 100;
/** Longest key prefix accepted for --store-prefix, in characters. */
export const RELAY_STORE_PREFIX_MAX_CHARS = 64;
/** Largest --store-password-file read, in bytes. */
export const RELAY_STORE_PASSWORD_FILE_MAX_BYTES = 4 * 1024; // 4 KiB
/**
 * How long a relay node's share of the per-address connection counts stays in Redis without the
 * node renewing it (src/relay/redis-limits.ts): a node that dies is forgotten within this long.
 */
export const RELAY_CONNECTION_LEASE_MS = 30_000; // 30 s
/** How often a live node renews its connection lease and rewrites its counts from its own table. */
export const RELAY_CONNECTION_LEASE_RENEW_MS = 10_000; // 10 s
/** Sessions one sweep of the dead relay nodes' sessions handles at most (src/relay/node-sweep.ts). */
export const RELAY_NODE_SWEEP_BATCH = 100;
/** Wait before the next sweep when one left sessions of a dead node for later, in ms. */
export const RELAY_NODE_SWEEP_CATCH_UP_MS = 1_000; // 1 s
/** Shortest cluster key (--cluster-key-file) accepted, in bytes (after one trailing newline is dropped). */
export const RELAY_CLUSTER_KEY_MIN_BYTES = 32;
/** Longest cluster key file read, in bytes. */
export const RELAY_CLUSTER_KEY_MAX_BYTES = 1024; // 1 KiB
/** How far a node-to-node request's time may be from the receiver's clock, in ms (either way). */
export const RELAY_NODE_PROOF_MAX_SKEW_MS = 30_000; // 30 s
/** Nonces of node-to-node requests remembered (for RELAY_NODE_PROOF_MAX_SKEW_MS each way) against replays. */
export const RELAY_NODE_NONCES_REMEMBERED = 100_000;
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
/**
 * Longest resume window the relay grants (docs/design.md §8.1): how long an established session
 * whose socket dropped stays suspended, waiting for that side to come back. The agent asks for its
 * own window (`share --resume-window`); the relay grants at most this, and never past the session's
 * end.
 */
export const RELAY_MAX_RESUME_WINDOW_MS = 60 * 60_000; // 1 h
/** Longest resume window an agent may ask for on the wire, in seconds (the longest session lifetime). */
export const RELAY_RESUME_WINDOW_MAX_S = 7 * 24 * 60 * 60; // 7 d
/**
 * Sessions a restarted relay recreated from their keys that still wait for one of their two sides
 * (docs/design.md §8.1 "relay restarts"). Past it further resuming sockets of unknown sessions get
 * 503 and retry, so a flood of valid-looking resumptions cannot grow the relay's state without
 * bound.
 */
export const RELAY_MAX_RECREATED_WAITING = 1_000;
/**
 * Sessions that ended on this relay process and are remembered, with why, so that a side coming
 * back after the end hears the reason (404 "its resume window closed...") and a session a restarted
 * relay recreated cannot be recreated again after it ended (docs/design.md §8.1). Past it the
 * oldest is forgotten (about 100 bytes each: 1 MB); a forgotten one can at worst be recreated and
 * wait one resume window again, bounded by RELAY_MAX_RECREATED_WAITING.
 */
export const RELAY_ENDED_SESSIONS_REMEMBERED = 10_000;
/**
 * New sockets (resumptions, replacements) each side of an established session may open per
 * minute (docs/design.md §8.1): an endpoint with capped, jittered backoff needs a few; past it 429.
 */
export const RELAY_MAX_RECONNECTS_PER_MINUTE = 60;
/**
 * The `Retry-After` the relay puts on a 503 that says nothing about when it will pass (shutting
 * down: a restarted relay usually listens again within seconds; at capacity: a slot frees when a
 * session ends or comes back). Its 429s say when their window ends instead.
 */
export const RELAY_RETRY_AFTER_UNAVAILABLE_MS = 2_000; // 2 s

// --- relay client (docs/design.md §3) ---
/** How long one relay API request may take, connect to last byte. */
export const RELAY_CLIENT_REQUEST_TIMEOUT_MS = 15_000; // 15 s
/**
 * The longest a connection opened ahead for the client's relay WebSocket (while `POST /pair`
 * runs; relay-client/direct-connection.ts) may have waited since it connected and still be used:
 * a relay closes a connection without a request head after its --head-timeout (10 s by default).
 * Older, it is closed and the WebSocket opens a new one.
 */
export const RELAY_CLIENT_PREOPENED_IDLE_MAX_MS = 1_000; // 1 s
/** Largest relay API response body the client reads, in bytes. */
export const RELAY_CLIENT_RESPONSE_MAX_BYTES = 64 * 1024; // 64 KiB
/**
 * A relay socket reached straight (plain TCP or TLS) reads into slabs of this size and hands whole WebSocket frames on
 * (src/relay-client/frame-reads.ts): several 256 KiB records per slab, none copied by `ws`.
 */
export const RELAY_CLIENT_READ_SLAB_BYTES = 1024 * 1024; // 1 MiB
/** ... and starts a new slab when less than this is left for the next read. */
export const RELAY_CLIENT_READ_MIN_ROOM_BYTES = 64 * 1024; // 64 KiB
/** Bytes of the relay's HTTP answer held while looking for the end of its head; beyond, bytes go on as read. */
export const RELAY_CLIENT_READ_HEAD_MAX_BYTES = 16 * 1024; // 16 KiB
/** How long the WebSocket opening handshake with the relay may take. */
export const RELAY_CLIENT_HANDSHAKE_TIMEOUT_MS = 15_000; // 15 s
/** Interval of the client's own WebSocket pings to the relay. */
export const RELAY_CLIENT_PING_INTERVAL_MS = 30_000; // 30 s
/** The relay socket is given up when nothing (no frame, no pong) came from the relay this long. */
export const RELAY_CLIENT_SILENCE_TIMEOUT_MS = 90_000; // 90 s
/** Bytes queued on the relay socket before `send` asks the caller to wait for `drain`. */
export const RELAY_CLIENT_SEND_HIGH_WATER_BYTES = 1024 * 1024; // 1 MiB
/**
 * Size of the buffers an endpoint's relay socket frames large records into and reuses once the
 * socket has written them: a full MUX record (inner type, RECORD_MUX_CHUNK_BYTES, tag) and the
 * longest WebSocket header fit, with room to spare.
 */
export const RELAY_CLIENT_FRAME_BUFFER_BYTES = RECORD_MUX_CHUNK_BYTES + 1024; // 257 KiB
/** Frames shorter than this go in buffers of their own (small allocations come from Node's pool). */
export const RELAY_CLIENT_FRAME_BUFFER_MIN_BYTES = 16 * 1024; // 16 KiB
/** Written frame buffers a relay socket keeps for reuse, at most (4 x 257 KiB). */
export const RELAY_CLIENT_SPARE_FRAME_BUFFERS = 4;
/** How long an HTTPS proxy may take to answer the CONNECT that opens a tunnel to the relay. */
export const RELAY_PROXY_CONNECT_TIMEOUT_MS = 15_000; // 15 s
/** Longest HTTPS_PROXY / NO_PROXY value read from the environment, in characters. */
export const RELAY_PROXY_SETTING_MAX_CHARS = 8 * 1024; // 8 KiB

// --- terminal output of peer and relay text (src/terminal/inert-text.ts) ---
/** Longest field from a peer or the relay that kubepair prints (a path, a name), in characters. */
export const TERMINAL_FIELD_MAX_CHARS = 256;
/** Longest one-line error message kubepair prints, in characters. */
export const TERMINAL_MESSAGE_MAX_CHARS = 1024;
/**
 * Longest policy rule connect's banner shows, in characters: with its label the line stays
 * within 80 columns, so a rule cannot wrap onto a line of its own that imitates the banner.
 */
export const BANNER_RULE_MAX_CHARS = 56;

// --- connect: signals and leftover kubeconfigs (docs/design.md §6) ---
/** How long connect's shell or command has between SIGTERM and SIGKILL when connect stops it. */
export const CHILD_STOP_GRACE_MS = 5_000; // 5 s
/**
 * After a signal, how long connect may take to stop its child and clean up before it exits
 * anyway: twice the child's grace, so the child's SIGKILL comes first.
 */
export const SIGNAL_EXIT_GRACE_MS = 2 * CHILD_STOP_GRACE_MS; // 10 s
/** While connect waits for the sharer's side to answer, how often it says it still waits. */
export const CONNECT_WAIT_PROGRESS_INTERVAL_MS = 5_000; // 5 s
/** How long before the session's end connect warns that it will end (10 min, then 1 min). */
export const CONNECT_END_WARNINGS_MS: readonly number[] = [10 * 60_000, 60_000];
/** Directory entries a connect examines when it looks for kubeconfigs left by dead processes. */
export const STALE_KUBECONFIG_SCAN_MAX_ENTRIES = 4096;

// --- connect's local API listener (src/client/local-listener.ts; SECURITY.md) ---
/**
 * Most connections connect's token-checked listener holds that have not shown the session's
 * bearer token yet (in the TLS handshake or before their first request head). One more closes
 * the oldest of them: another local user cannot use up connect's file descriptors, and kubectl's
 * own connection, which shows its token within milliseconds, is not the one closed.
 */
export const LOCAL_UNAUTHENTICATED_CONNECTIONS_MAX = 64;
/** How long a local client has to finish the TLS handshake (Node's default is 120 s). */
export const LOCAL_TLS_HANDSHAKE_TIMEOUT_MS = 10_000; // 10 s
/** How long a local client has, after connecting, to send its first request head. */
export const LOCAL_REQUEST_HEAD_TIMEOUT_MS = 30_000; // 30 s

// --- relay tokens in the OS keychain (docs/design.md §7) ---
/**
 * How long one keychain call may take. A locked keychain may show an unlock prompt, so this
 * leaves a person time to answer it.
 */
export const KEYCHAIN_CALL_TIMEOUT_MS = 60_000; // 60 s
/** Most bytes `kubepair token set` reads from standard input (a token is 48 characters). */
export const TOKEN_INPUT_MAX_BYTES = 4 * 1024; // 4 KiB

// --- the user's config file (src/cli/config-file.ts; docs/usage.md "Config file") ---
/** Largest config file kubepair reads, in bytes: a handful of settings needs well under 1 KiB. */
export const CONFIG_FILE_MAX_BYTES = 64 * 1024; // 64 KiB

// --- kubepair doctor (src/cli/doctor-checks.ts) ---
/** How long doctor waits for each network check (the relay's health route, a TLS probe), in ms. */
export const DOCTOR_NETWORK_TIMEOUT_MS = 5_000; // 5 s
/** How long doctor waits for `kubectl version --client`, in ms. */
export const DOCTOR_KUBECTL_TIMEOUT_MS = 10_000; // 10 s
/** Clock difference to the relay above which doctor warns, in ms (the relay's Date header has 1 s resolution). */
export const DOCTOR_CLOCK_SKEW_WARN_MS = 30_000; // 30 s
/** Most bytes of a relay's health answer doctor reads. */
export const DOCTOR_HEALTH_MAX_BYTES = 4 * 1024; // 4 KiB

// --- the local control socket (src/control/; docs/usage.md "Session control") ---
/** Longest request line a control socket reads, newline included, in bytes; refused before more is buffered. */
export const CONTROL_REQUEST_MAX_BYTES = 16 * 1024; // 16 KiB
/** Longest answer line a control client reads, in bytes (a status of many sessions fits easily). */
export const CONTROL_RESPONSE_MAX_BYTES = 1024 * 1024; // 1 MiB
/** How long a control socket waits for the whole request line after a connection opens. */
export const CONTROL_REQUEST_TIMEOUT_MS = 5_000; // 5 s
/** How long one control connection may stay open in all (request, handler, answer); then it is cut. */
export const CONTROL_CONNECTION_TIMEOUT_MS = 30_000; // 30 s
/** Control connections served at once; one more is answered KP_ERR_CONTROL_BUSY and closed. */
export const CONTROL_MAX_CONNECTIONS = 16;
/** How long a control client waits for an answer by default. */
export const CONTROL_CLIENT_TIMEOUT_MS = 10_000; // 10 s
/** Entries of the control directory a client examines when it looks for running processes. */
export const CONTROL_SCAN_MAX_ENTRIES = 256;
/** How long a client's probe of one control socket (is anybody listening?) may take. */
export const CONTROL_PROBE_TIMEOUT_MS = 2_000; // 2 s
/** Longest Unix socket path, in bytes (sun_path is 108 bytes on Linux, 104 on macOS, with the NUL). */
export const CONTROL_SOCKET_PATH_MAX_BYTES = 103;

// --- the Node.js process the `kubepair` binary runs in (src/cli/node-flags.ts) ---
/**
 * The size V8 starts the old generation at, in MiB (`--initial-old-space-size`, given by the
 * binary's shebang). With V8's default, computed from the small live heap of a tunnel process,
 * bulk traffic reached the old generation's limit every few MiB and each time paid a full
 * mark-compact (docs/performance.md "Issue 15: the endpoints' old generation"). A start size,
 * not a ceiling: the heap still grows and shrinks as V8 decides.
 */
export const NODE_INITIAL_OLD_SPACE_MIB = 128; // 128 MiB
