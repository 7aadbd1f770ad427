/**
 * The agent's in-process Kubernetes reverse proxy (proxy mode, docs/design.md §6; issue 10). Each
 * tunnel stream to `kube-apiserver` is one HTTP/1.1 connection from the client's kubectl, read
 * by the agent's own strict request reader (http1/request-reader.ts). For every request:
 *
 *   1. framing is decided before anything else, and ambiguous framing is refused with a
 *      Kubernetes Status (http1/request-head.ts): what the agent judges is exactly what it
 *      forwards, because the API server only ever receives requests the agent re-serialized;
 *   2. classify it (policy/request-attributes.ts) and decide (policy/policy.ts): a refusal is a
 *      Status 403 that says which rule refused what. With `share --approve`, a request refused
 *      for its tier only (never by --deny) is first held for the sharer (approval-queue.ts):
 *      nothing of it is forwarded, and no later request on its connection is read, before the
 *      answer; an approval lets it go on through the steps below exactly as it was judged, a
 *      decline, a timeout or a full queue is the 403 (issue 14);
 *   3. refuse everything while the audit log cannot be written (fail closed), unless the
 *      operator chose --audit-fail-open; an allowed request is recorded (`request_started`)
 *      before it is forwarded, so nothing reaches the API server unrecorded;
 *   4. forward it with the agent's own credentials (api-server/api-server-client.ts: HTTP/2
 *      when the API server offers it, else HTTP/1.1 with framing the agent writes), with only
 *      end-to-end fields (api-server/forwarded-fields.ts);
 *   5. write one `request` record when it ends: attributes, decision, status, bytes both ways,
 *      the SHA-256 of the response body as streamed, duration.
 *
 * The next request on a connection is not read until the current one is answered. Upgrades
 * (exec, attach, port-forward, proxy) go through the same steps, then a fresh HTTP/1.1
 * connection that is spliced raw only after a verified `101` (api-server/upgrade-dial.ts).
 * Exec and attach sessions (and `kubectl debug`, which attaches) are recorded when the share
 * records them (docs/audit.md "Recorded sessions"): the recording file is created before the API
 * server is dialled, every byte is read as it passes (audit/terminal-recorder.ts) and recorded
 * before it is passed on, and its SHA-256 and size go into the request's audit record. A session
 * that cannot be recorded is refused or ended (fail closed) unless --recording-fail-open; SPDY,
 * which is not recorded, is refused for exec and attach while recording is on. An exec or attach
 * the agent cuts itself (a narrowed policy, a recording that stopped) loses its API server
 * connection first and is then told why on its error channel, where the frames passed to the
 * client allow a message (docs/audit.md "Cut sessions").
 * Every request is untrusted input.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Duplex, Readable } from 'node:stream';
import type { AuditLog } from '../audit/audit-log.js';
import { redactQuery } from '../audit/redact.js';
import type { RequestAuditRecord } from '../audit/record.js';
import { SessionRecording } from '../audit/session-recording.js';
import { RECORDED_CHANNEL_PROTOCOLS, TerminalRecorder } from '../audit/terminal-recorder.js';
import type { TerminalRecordingResult } from '../audit/terminal-recorder.js';
import { ERRORS, KubepairError } from '../errors/index.js';
import {
  AGENT_CHUNK_LINE_MAX_BYTES,
  AGENT_CONNECTION_IDLE_TIMEOUT_MS,
  AGENT_PIPELINE_MAX_BYTES,
  AGENT_REQUEST_HEADERS_MAX_COUNT,
  AGENT_REQUEST_HEAD_MAX_BYTES,
  AGENT_REQUEST_HEAD_TIMEOUT_MS,
  AGENT_RESPONSE_AHEAD_MAX_BYTES,
  AGENT_TRAILER_MAX_BYTES,
  RECORDING_DEFAULT_COLUMNS,
  RECORDING_DEFAULT_ROWS,
  POLICY_DESCRIPTION_MAX_CHARS,
  UPGRADE_CLIENT_CLOSE_GRACE_MS,
  UPGRADE_CUT_FLUSH_TIMEOUT_MS,
} from '../limits.js';
import type { ApiServerProtocol, ForwardResponse } from './api-server/api-server-client.js';
import { ApiServerClient } from './api-server/api-server-client.js';
import { distinctFields, forwardedFields } from './api-server/forwarded-fields.js';
import { dialUpgrade } from './api-server/upgrade-dial.js';
import type { HeaderField } from './http1/message-syntax.js';
import { fieldValues, listElements } from './http1/message-syntax.js';
import type { RequestHead } from './http1/request-head.js';
import { FramingRefusal, hasBody } from './http1/request-head.js';
import type { IncomingRequest, RequestReaderLimits } from './http1/request-reader.js';
import { RequestReader } from './http1/request-reader.js';
import type { ResponseBodyFraming } from './http1/response-writer.js';
import { ResponseWriter, responseHasNoBody, serializeResponseHead } from './http1/response-writer.js';
import { channelFailureBytes } from '../protocol/channel-status.js';
import { KUBE_STATUS_HEADERS, REFUSAL_TEXT_HEADERS, REFUSAL_TEXT_STATUS, kubeStatusBody } from '../protocol/kube-status.js';
import { WebSocketBoundary } from '../protocol/websocket-boundary.js';
import { inertText } from '../terminal/inert-text.js';
import { holdWrites, turnBatch } from '../mux/turn-batch.js';
import type { PolicyDecision, PolicySource, RequestAttributes, RequestPolicy } from './policy/index.js';
import { CONNECT_SUBRESOURCES, PolicyHolder, currentPolicy, forbiddenResponse, parseRule, ruleLabel, requestAttributes, switchesProtocols } from './policy/index.js';
import type { UpstreamAuth, UpstreamCluster } from './upstream-cluster.js';
import type { ApprovalOutcome, SessionApprovals } from './approval-queue.js';

/**
 * The answer while the audit log cannot be written (the sharer sees the cause, the client does
 * not see the agent's paths): the text refusal of protocol/kube-status.ts, which kubectl shows
 * word for word on every code path.
 */
const AUDIT_BLOCKED_MESSAGE = 'kubepair: the agent cannot write its audit log, so it refuses every request until the sharer fixes it (fail closed)';
/** The answer while a session's recording cannot be created (fail closed); the sharer's log says why. */
const RECORDING_BLOCKED_MESSAGE = 'kubepair: the agent cannot write the recording of this session, so it refuses it (fail closed); the sharer sees why';
/**
 * The answer to an exec or attach over SPDY while sessions are recorded: only the WebSocket form
 * is recorded. kubectl 1.30 and newer use WebSocket (`v5.channel.k8s.io`); 1.29 does with
 * KUBECTL_REMOTE_COMMAND_WEBSOCKETS=true.
 */
const SPDY_REFUSED_MESSAGE =
  'kubepair: this share records exec and attach sessions, and only their WebSocket form can be recorded: use kubectl 1.30 or newer (1.29 with KUBECTL_REMOTE_COMMAND_WEBSOCKETS=true), or ask the sharer to share with --record off';
/** The answer when the API server chose a WebSocket subprotocol the agent cannot record (base64 forms). */
const UNRECORDABLE_PROTOCOL_MESSAGE = 'kubepair: the session was set up in a form the agent cannot record (only binary channel.k8s.io v1-v5 are), so it is refused (fail closed)';
/** The subresources whose upgraded streams are terminal sessions, recorded when recording is on. */
const TERMINAL_SUBRESOURCES: ReadonlySet<string> = new Set(['exec', 'attach']);
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');

/** Client text in a Status message: printable ASCII only, bounded (kubectl prints it as is). */
function printable(text: string): string {
  const safe = text.replace(/[^\x20-\x7e]/g, '?');
  return safe.length > POLICY_DESCRIPTION_MAX_CHARS ? `${safe.slice(0, POLICY_DESCRIPTION_MAX_CHARS - 3)}...` : safe;
}

/** The reader limits the proxy uses (tests may shorten the timers). */
export const KUBE_PROXY_READER_LIMITS: RequestReaderLimits = {
  headMaxBytes: AGENT_REQUEST_HEAD_MAX_BYTES,
  headerMaxCount: AGENT_REQUEST_HEADERS_MAX_COUNT,
  chunkLineMaxBytes: AGENT_CHUNK_LINE_MAX_BYTES,
  trailerMaxBytes: AGENT_TRAILER_MAX_BYTES,
  pipelineMaxBytes: AGENT_PIPELINE_MAX_BYTES,
  headTimeoutMs: AGENT_REQUEST_HEAD_TIMEOUT_MS,
  idleTimeoutMs: AGENT_CONNECTION_IDLE_TIMEOUT_MS,
};

export interface KubeProxyOptions {
  readonly upstream: UpstreamCluster;
  /** The policy, or a holder whose policy may change while the session runs (read once per request). */
  readonly policy: PolicySource;
  /** The audit log; undefined only when auditing is explicitly off. */
  readonly audit: AuditLog | undefined;
  /** Forward requests even when audit records cannot be written (`--audit-fail-open`). */
  readonly auditFailOpen?: boolean;
  /** Relay session id and client label for audit records. */
  readonly session: string;
  readonly client: string;
  /** `--as` / `--as-group`: impersonate a narrower identity on every request. */
  readonly impersonate?: { readonly user: string; readonly groups: readonly string[] };
  /** Offer HTTP/2 to the API server (default true). */
  readonly http2?: boolean;
  /** Reader limits (default KUBE_PROXY_READER_LIMITS). */
  readonly readerLimits?: RequestReaderLimits;
  /**
   * `share --approve`: hold requests the policy refuses for their tier only for the sharer's
   * answer here (the share's one queue, bound to this session: ApprovalQueue.forSession);
   * absent: they are refused at once.
   */
  readonly approvals?: SessionApprovals;
  /** Called after each request with its audit record (logs, counters, tests). */
  readonly onRequest?: (record: RequestAuditRecord) => void;
  /** Record exec and attach sessions (docs/audit.md "Recorded sessions"); undefined: not recorded. */
  readonly recording?: ExecRecordingOptions;
}

/** How exec and attach sessions are recorded. */
export interface ExecRecordingOptions {
  /** The audit log's directory: recordings go to its `recordings` directory. */
  readonly logDirectory: string;
  /** Record what the client types too (redacted), not only what its terminal shows. */
  readonly input: boolean;
  /** Serve a session whose recording cannot be written (unrecorded) instead of refusing or ending it. */
  readonly failOpen: boolean;
  /** Bound of one recording in bytes (default RECORDING_MAX_BYTES). */
  readonly maxBytes?: number;
}

/**
 * Who the API server is asked to act as for one request, and whose choice that was: the
 * sharer's `--as`, the `as:` of the agent's kubeconfig user, or the client's own `Impersonate-*`
 * fields (allowed only where the policy allowed impersonation). The first two are ceilings the
 * client cannot lift: its own fields are dropped then.
 */
interface Impersonation {
  readonly source: 'share' | 'kubeconfig' | 'client';
  readonly user?: string;
  readonly groups: readonly string[];
  readonly uid?: string;
  /** `Impersonate-Extra-KEY` values by lower-case KEY. */
  readonly extra: Readonly<Record<string, readonly string[]>>;
}

/** The impersonation `fields` ask for (names lower-case), or undefined when they ask for none. */
function impersonationIn(fields: readonly HeaderField[], source: Impersonation['source']): Impersonation | undefined {
  let user: string | undefined;
  let uid: string | undefined;
  const groups: string[] = [];
  const extra: Record<string, string[]> = {};
  let any = false;
  for (const [name, value] of fields) {
    if (!name.startsWith('impersonate-')) continue;
    any = true;
    if (name === 'impersonate-user') user ??= value;
    else if (name === 'impersonate-group') groups.push(value);
    else if (name === 'impersonate-uid') uid ??= value;
    else if (name.startsWith('impersonate-extra-')) (extra[name.slice('impersonate-extra-'.length)] ??= []).push(value);
  }
  if (!any) return undefined;
  return { source, ...(user !== undefined && { user }), groups, ...(uid !== undefined && { uid }), extra };
}

/** The agent's credentials as fields (names lower-case). */
function authFields(auth: UpstreamAuth): HeaderField[] {
  return Object.entries(auth.headers).map(([name, value]): HeaderField => [name.toLowerCase(), value]);
}

/** One request from arrival to its audit record. */
interface Exchange {
  readonly id: string;
  readonly started: number;
  readonly method: string;
  readonly target: string;
  readonly attributes: RequestAttributes;
  /** The policy's decision; replaced by the sharer's when a held request is answered. */
  decision: PolicyDecision;
  /** How a request held for the sharer ended (absent: never held). */
  approval: ApprovalOutcome | undefined;
  bytesIn: number;
  bytesOut: number;
  status: number;
  finished: boolean;
  /** The request as read (its body bytes count towards bytes_in); undefined for a malformed one. */
  request: IncomingRequest | undefined;
  /** Who the API server acts as (undefined: the agent's own identity); settled before forwarding. */
  impersonation: Impersonation | undefined;
  readonly hash: ReturnType<typeof createHash>;
  /** The session's recording, while it is recorded. */
  recorder: TerminalRecorder | undefined;
  /** Why the session is not (or no longer) recorded although the share records sessions. */
  recordingError: string | undefined;
  /** The request's header fields as the policy reads them (for deciding again when the policy changes). */
  readonly fields: Record<string, string[]>;
  /** Why a policy change cut the request while it ran (absent: it was not cut). */
  cutByPolicy: string | undefined;
  /**
   * Ends an upgrade the agent cuts, telling the client why: while the API server has not
   * answered, with an ordinary Status answer (#upgrade); once spliced, on an exec or attach
   * client's error channel when its protocol allows (#splice). Undefined otherwise (the
   * connection is destroyed then).
   */
  cut: ((code: number, message: string) => void) | undefined;
}

/**
 * The protocols kubectl and client-go upgrade exec, attach and port-forward to (RFC 6455
 * WebSocket, and SPDY/3.1). Anything else — `h2c` above all, which would turn the agent's
 * authenticated connection into one the client multiplexes arbitrary requests over — is
 * refused before the API server is dialled.
 */
const STREAM_UPGRADE_PROTOCOLS: ReadonlySet<string> = new Set(['websocket', 'spdy/3.1']);

/** True when every protocol an `Upgrade` field offers is one exec, attach and port-forward use. */
function isStreamUpgrade(upgrade: string): boolean {
  const offered = upgrade.split(',').map((element) => element.trim().toLowerCase()).filter((element) => element !== '');
  return offered.length > 0 && offered.every((protocol) => STREAM_UPGRADE_PROTOCOLS.has(protocol));
}

/** True when an `Upgrade` field offers WebSocket (the only form of exec and attach that is recorded). */
function offersWebSocket(upgrade: string): boolean {
  return listElements(upgrade).some((element) => element.trim().toLowerCase() === 'websocket');
}

/**
 * The binary channel protocol the API server's 101 switched to (WebSocket, no extension): the
 * form the recorder reads and the agent can end with a Status of its own. No subprotocol means
 * the original `channel.k8s.io`. Undefined for anything else (base64 forms, SPDY, extensions).
 */
function channelProtocolOf(headers: readonly HeaderField[]): string | undefined {
  const upgrade = fieldValues(headers, 'upgrade');
  if (upgrade.length !== 1 || upgrade[0]!.trim().toLowerCase() !== 'websocket') return undefined;
  const chosen = fieldValues(headers, 'sec-websocket-protocol').flatMap(listElements);
  if (chosen.length > 1) return undefined;
  if (fieldValues(headers, 'sec-websocket-extensions').length > 0) return undefined;
  const protocol = chosen[0]?.trim() ?? 'channel.k8s.io';
  return RECORDED_CHANNEL_PROTOCOLS.has(protocol) ? protocol : undefined;
}

/**
 * What a policy cut tells the client on the error channel: which request, and the rule (or the
 * mode) that now refuses it, as the `cut_by_policy` audit field names it. Terminal-safe: kubectl
 * prints it as is.
 */
function policyCutMessage(exchange: Exchange, decision: PolicyDecision): string {
  const a = exchange.attributes;
  const what = a.kind === 'resource' && a.subresource !== '' ? a.subresource : 'request';
  const why = inertText(decision.rule ?? decision.reason, { asciiOnly: true, maxChars: POLICY_DESCRIPTION_MAX_CHARS });
  return `kubepair: the session's policy changed and now refuses this ${what} (${why})`;
}

/**
 * What a recording cut tells the client: the kind of failure (the registry's message and code,
 * never the agent's paths or the error's detail: the sharer's log has those).
 */
function recordingCutMessage(error: KubepairError): string {
  return `kubepair: the agent ended this session (fail closed): ${ERRORS[error.code].message} (${error.code}); the sharer sees why`;
}

/** The audit fields of a finished recording (docs/audit.md "Recorded sessions"). */
function recordingFields(recording: TerminalRecordingResult, input: boolean): Pick<RequestAuditRecord, 'recording' | 'recording_sha256' | 'recording_bytes' | 'recording_input'> {
  return { recording: recording.reference, recording_sha256: recording.sha256, recording_bytes: recording.bytes, recording_input: input };
}

export class KubeProxy {
  readonly #options: KubeProxyOptions;
  readonly #api: ApiServerClient;
  readonly #idPrefix = randomBytes(3).toString('hex');
  #counter = 0;
  readonly #pending = new Set<Promise<void>>();
  readonly #streams = new Set<Duplex>();
  /**
   * Requests forwarded and not finished yet, with their client connection: what a policy change
   * decides again. Only unfinished ones: #serve adds one before anything can finish it, and
   * #finish removes it in the step that marks it finished.
   */
  readonly #running = new Map<Exchange, Duplex>();
  /** Stops listening for policy changes (a fixed policy: nothing to stop). */
  readonly #stopListening: () => void;
  /** Why the last recording could not be created, until one can be again. */
  #recordingBroken: string | undefined;

  constructor(options: KubeProxyOptions) {
    this.#options = options;
    this.#api = new ApiServerClient(options.upstream, { http2: options.http2 ?? true });
    this.#stopListening = options.policy instanceof PolicyHolder ? options.policy.onReplace((policy) => this.#reconsider(policy)) : () => undefined;
  }

  /**
   * The session's policy changed: every request still running is decided again, and one the new
   * policy refuses is cut (its connection closed; its `request` record says why). A request the
   * sharer approved is decided again too: a narrower policy is the later word.
   */
  #reconsider(policy: RequestPolicy): void {
    for (const [exchange, stream] of this.#running) {
      const decision = policy.decide(exchange.attributes, exchange.fields);
      if (decision.decision !== 'deny') continue;
      exchange.cutByPolicy = decision.reason;
      this.#running.delete(exchange);
      if (exchange.cut !== undefined) exchange.cut(403, policyCutMessage(exchange, decision));
      else stream.destroy();
    }
  }

  /** Serve one tunnel stream (one kubectl connection). */
  handle(stream: Duplex): void {
    this.#streams.add(stream);
    stream.once('close', () => this.#streams.delete(stream));
    stream.on('error', () => stream.destroy());
    const reader = new RequestReader(stream, this.#options.readerLimits ?? KUBE_PROXY_READER_LIMITS);
    reader.on('request', (request) => void this.#serve(stream, reader, request));
    reader.on('refused', (refusal, inBody) => {
      if (!inBody) this.#refuseFraming(stream, refusal);
    });
    reader.on('end', () => stream.end());
  }

  /** The protocol the agent speaks to the API server with these credentials (tests, logs). */
  async apiServerProtocol(): Promise<ApiServerProtocol> {
    return this.#api.protocol(await this.#options.upstream.auth());
  }

  /** End every client connection, wait for outstanding audit writes, release upstream connections. */
  async close(): Promise<void> {
    this.#stopListening();
    for (const stream of this.#streams) stream.destroy();
    await Promise.allSettled([...this.#pending]);
    this.#api.close();
  }

  #begin(method: string, target: string, headers: readonly HeaderField[]): Exchange {
    const attributes = requestAttributes(method, target);
    const fields = distinctFields(headers);
    const decision = currentPolicy(this.#options.policy).decide(attributes, fields);
    this.#counter += 1;
    const impersonate = this.#options.impersonate;
    return {
      id: `${this.#idPrefix}-${this.#counter}`,
      started: Date.now(),
      method,
      target,
      attributes,
      decision,
      approval: undefined,
      bytesIn: 0,
      bytesOut: 0,
      status: 0,
      finished: false,
      request: undefined,
      // What the client asked for until the agent's credentials say otherwise (#settleIdentity).
      impersonation:
        impersonate !== undefined
          ? { source: 'share', user: impersonate.user, groups: impersonate.groups, extra: {} }
          : impersonationIn(headers, 'client'),
      hash: createHash('sha256'),
      recorder: undefined,
      recordingError: undefined,
      fields,
      cutByPolicy: undefined,
      cut: undefined,
    };
  }

  /**
   * Security: decide who the API server acts as, once the agent's credentials are known. `--as`
   * wins over everything (the kubeconfig's `as:` is dropped, so exactly one Impersonate-User
   * travels); else the kubeconfig's `as:` holds and the client's own Impersonate-* fields are
   * dropped — otherwise a client could add `Impersonate-Group: system:masters` to the
   * kubeconfig's narrow user, or, since the API server reads the first Impersonate-User, replace
   * it. Returns the credentials to send and whether the client's fields are dropped.
   */
  #settleIdentity(exchange: Exchange, auth: UpstreamAuth): { auth: UpstreamAuth; dropClientImpersonation: boolean } {
    if (this.#options.impersonate !== undefined) {
      const headers = Object.fromEntries(Object.entries(auth.headers).filter(([name]) => !name.toLowerCase().startsWith('impersonate-')));
      return { auth: { ...auth, headers }, dropClientImpersonation: true };
    }
    const fromKubeconfig = impersonationIn(authFields(auth), 'kubeconfig');
    if (fromKubeconfig !== undefined) {
      exchange.impersonation = fromKubeconfig;
      return { auth, dropClientImpersonation: true };
    }
    return { auth, dropClientImpersonation: false };
  }

  /**
   * True while requests must be refused because the last audit write failed (fail closed). The
   * refusal's own record is another write attempt: once one succeeds, requests pass again.
   */
  #auditBlocked(): boolean {
    const audit = this.#options.audit;
    if (audit === undefined || this.#options.auditFailOpen === true) return false;
    return audit.lastError !== undefined;
  }

  /** What a request record says about the request itself (the started and the final record share it). */
  #describe(exchange: Exchange): Omit<RequestAuditRecord, 'event' | 'status' | 'bytes_in' | 'bytes_out' | 'response_sha256' | 'duration_ms'> {
    const a = exchange.attributes;
    const [path = '/', query] = exchange.target.split(/\?(.*)/s, 2);
    const impersonation = exchange.impersonation;
    return {
      time: new Date(exchange.started).toISOString(),
      session: this.#options.session,
      client: this.#options.client,
      request_id: exchange.id,
      method: exchange.method,
      verb: a.kind === 'resource' ? a.verb : a.kind === 'non-resource' ? a.verb : 'unknown',
      ...(a.kind === 'resource' && {
        group: a.group,
        version: a.version,
        resource: a.resource,
        ...(a.subresource !== '' && { subresource: a.subresource }),
        ...(a.namespace !== '' && { namespace: a.namespace }),
        ...(a.name !== '' && { name: a.name }),
      }),
      path,
      ...(query !== undefined && query !== '' && { query: redactQuery(query) }),
      ...(impersonation !== undefined && {
        impersonate_source: impersonation.source,
        ...(impersonation.user !== undefined && { impersonate_user: impersonation.user }),
        ...(impersonation.groups.length > 0 && { impersonate_groups: [...impersonation.groups] }),
        ...(impersonation.uid !== undefined && { impersonate_uid: impersonation.uid }),
        ...(Object.keys(impersonation.extra).length > 0 && { impersonate_extra: Object.fromEntries(Object.entries(impersonation.extra).map(([key, values]) => [key, [...values]])) }),
      }),
      tier: exchange.decision.tier,
      decision: exchange.decision.decision,
      ...(exchange.decision.rule !== undefined && { rule: exchange.decision.rule }),
      reason: exchange.decision.reason,
      ...(this.#options.approvals !== undefined && { decided_by: exchange.approval?.decidedBy ?? 'policy' }),
      ...(exchange.approval !== undefined && { approval: exchange.approval.result, waited_ms: exchange.approval.waitedMs }),
    };
  }

  /** Record that an allowed request is about to be forwarded; rejects when it cannot be written (fail closed). */
  async #recordStart(exchange: Exchange): Promise<void> {
    const audit = this.#options.audit;
    if (audit === undefined) return;
    const write = audit.append({ event: 'request_started', ...this.#describe(exchange) });
    if (this.#options.auditFailOpen === true) {
      await write.catch(() => undefined);
      return;
    }
    await write;
  }

  #finish(exchange: Exchange): void {
    if (exchange.finished) return;
    exchange.finished = true;
    this.#running.delete(exchange);
    exchange.bytesIn += exchange.request?.bodyBytes ?? 0;
    const recording = exchange.recorder?.finish();
    const recordingError = recording?.error?.message ?? exchange.recordingError;
    const record: RequestAuditRecord = {
      event: 'request',
      ...this.#describe(exchange),
      status: exchange.status,
      bytes_in: exchange.bytesIn,
      bytes_out: exchange.bytesOut,
      response_sha256: exchange.hash.digest('hex'),
      duration_ms: Date.now() - exchange.started,
      ...(recording !== undefined && recordingFields(recording, this.#options.recording?.input === true)),
      ...(recordingError !== undefined && { recording_error: recordingError }),
      ...(exchange.cutByPolicy !== undefined && { cut_by_policy: exchange.cutByPolicy }),
    };
    this.#options.onRequest?.(record);
    const audit = this.#options.audit;
    if (audit !== undefined) {
      // A failed write sets audit.lastError, which refuses later requests (fail closed).
      const write = audit.append(record).catch(() => undefined);
      this.#pending.add(write);
      void write.finally(() => this.#pending.delete(write));
    }
  }

  /** A request the reader could not frame: a 400-class Status, one audit record, and the connection closes. */
  #refuseFraming(stream: Duplex, refusal: FramingRefusal): void {
    const exchange = this.#begin('UNKNOWN', '/', []);
    const decision: PolicyDecision = { ...exchange.decision, decision: 'deny', tier: 3, reason: `malformed request: ${refusal.message}` };
    const refused: Exchange = { ...exchange, decision, attributes: { kind: 'ambiguous', isResourceRequest: false, method: 'UNKNOWN', verb: 'unknown', path: '/', problem: refusal.message } };
    this.#answerStatus(stream, refused, 'GET', refusal.status, `kubepair agent: ${refusal.message}`, true);
  }

  async #serve(stream: Duplex, reader: RequestReader, request: IncomingRequest): Promise<void> {
    const { head, body } = request;
    const exchange = this.#begin(head.method, head.target, head.headers);
    exchange.request = request;
    // A framing error inside the body is answered by the reader's 'refused' (#refuseFraming);
    // here it only stops the forwarding (the upstream request is reset, never completed).
    body.on('error', () => undefined);
    // A body the agent does not read to its end leaves the connection unusable: close it then.
    const mustClose = (): boolean => head.close || (hasBody(head.framing) && !body.readableEnded);
    if (exchange.decision.decision === 'deny' && !(await this.#askSharer(stream, exchange))) {
      const refusal = forbiddenResponse(exchange.decision, exchange.attributes);
      this.#answer(stream, exchange, head.method, refusal.statusCode, Object.entries(refusal.headers), refusal.body, mustClose());
      if (!mustClose()) reader.next();
      return;
    }
    const a = exchange.attributes;
    if (head.upgrade !== undefined && a.kind === 'resource' && CONNECT_SUBRESOURCES.has(a.subresource) && !isStreamUpgrade(head.upgrade)) {
      this.#answerStatus(stream, exchange, head.method, 400, `kubepair agent: ${a.subresource} upgrades only to websocket or SPDY/3.1`, true);
      return;
    }
    if (this.#isRecorded(exchange) && head.upgrade !== undefined && !offersWebSocket(head.upgrade)) {
      // Security: SPDY multiplexes zlib-compressed streams the recorder does not read; refused
      // rather than served unrecorded (docs/audit.md "Recorded sessions").
      exchange.recordingError = 'refused: SPDY exec/attach is not recorded';
      if (this.#recordingBroken !== undefined && this.#options.recording?.failOpen !== true) {
        // kubectl retries a refused WebSocket exec over SPDY, and shows what that answer says
        // (a Status: a text answer shows as an empty error there): it must hear the first reason.
        exchange.recordingError = this.#recordingBroken;
        this.#answerStatus(stream, exchange, head.method, 503, RECORDING_BLOCKED_MESSAGE, true);
        return;
      }
      this.#answerStatus(stream, exchange, head.method, 403, SPDY_REFUSED_MESSAGE, true);
      return;
    }
    if (this.#auditBlocked()) {
      this.#answer(stream, exchange, head.method, REFUSAL_TEXT_STATUS, REFUSAL_TEXT_HEADERS, AUDIT_BLOCKED_MESSAGE, true);
      return;
    }
    let credentials: UpstreamAuth;
    try {
      credentials = await this.#options.upstream.auth();
    } catch (err) {
      const message = err instanceof KubepairError ? err.message : 'cannot authenticate to the API server';
      this.#answerStatus(stream, exchange, head.method, 502, `kubepair agent: ${message}`, true);
      return;
    }
    const { auth, dropClientImpersonation } = this.#settleIdentity(exchange, credentials);
    try {
      await this.#recordStart(exchange);
    } catch {
      this.#answer(stream, exchange, head.method, REFUSAL_TEXT_STATUS, REFUSAL_TEXT_HEADERS, AUDIT_BLOCKED_MESSAGE, true);
      return;
    }
    if (stream.destroyed) {
      this.#finish(exchange);
      return;
    }
    // From here until #finish, a policy change decides it again (#reconsider).
    this.#running.set(exchange, stream);
    if (head.upgrade !== undefined && switchesProtocols(exchange.attributes)) {
      await this.#upgrade(stream, reader, head, exchange, auth, dropClientImpersonation);
      return;
    }
    await this.#forward(stream, reader, request, exchange, auth, dropClientImpersonation);
  }

  /**
   * `share --approve`: hold a request the policy refused for its tier only until the sharer
   * answers (or the timeout, a full queue, its client leaving). True when the sharer approved
   * it: its decision is then the sharer's (with "for the session", its --allow rules are in
   * the session's policy by then: AgentSession.approveForSession). Otherwise its decision says
   * why it is refused. Nothing is forwarded, and the connection's next request is not read,
   * while it waits.
   */
  async #askSharer(stream: Duplex, exchange: Exchange): Promise<boolean> {
    const approvals = this.#options.approvals;
    const decision = exchange.decision;
    if (approvals === undefined || decision.approvable === undefined || stream.destroyed) return false;
    const a = exchange.attributes;
    const namespace = a.kind === 'resource' ? a.namespace : '';
    const name = a.kind === 'resource' ? a.name : '';
    const withdraw = new AbortController();
    const onClose = (): void => withdraw.abort();
    stream.once('close', onClose);
    const outcome = await approvals.hold(
      {
        session: this.#options.session,
        client: this.#options.client,
        requestId: exchange.id,
        description: decision.description,
        tier: decision.tier,
        why: decision.why,
        verb: a.kind === 'ambiguous' ? 'unknown' : a.verb,
        namespace,
        name,
        rules: decision.approvable.rules,
      },
      withdraw.signal,
    );
    stream.off('close', onClose);
    exchange.approval = outcome;
    const what = `"${printable(`${decision.description}${namespace !== '' || name !== '' ? ` ${namespace}/${name}` : ''}`)}" (tier ${decision.tier}, ${decision.why})`;
    const { approvable: _approvable, ...judged } = decision;
    switch (outcome.result) {
      case 'approved_once':
        exchange.decision = { ...judged, decision: 'allow', reason: `approved once by the sharer; policy "${decision.mode}" alone refuses ${what}` };
        return true;
      case 'approved_session': {
        const labels = decision.approvable.rules.map((rule) => ruleLabel(parseRule('allow', rule))).join(', ');
        exchange.decision = { ...judged, decision: 'allow', rule: labels, reason: `approved by the sharer for the rest of the session: ${labels}` };
        return true;
      }
      case 'declined':
        exchange.decision = { ...judged, reason: `kubepair: the sharer declined ${what}` };
        return false;
      case 'timed_out':
        exchange.decision = { ...judged, reason: `kubepair: the sharer did not answer in time (${Math.round(approvals.timeoutMs / 1000)} s), so ${what} is refused` };
        return false;
      case 'queue_full':
        exchange.decision = { ...judged, reason: `kubepair: ${approvals.capacity} requests already wait for the sharer's approval, so ${what} is refused; try again later` };
        return false;
      case 'withdrawn':
        exchange.decision = { ...judged, reason: `the client went away while ${what} waited for the sharer` };
        return false;
      case 'closed':
        exchange.decision = { ...judged, reason: `kubepair: share stopped before the sharer answered, so ${what} is refused` };
        return false;
      case 'session_change_failed': {
        const why = outcome.error?.cause instanceof KubepairError && outcome.error.cause.code === 'KP_ERR_SESSION_CHANGE_UNAUDITED' ? 'its audit record cannot be written (fail closed)' : "the session's policy cannot take its rule";
        exchange.decision = { ...judged, reason: `kubepair: the sharer approved ${what} for the session, but that policy change was not made (${why}), so it is refused` };
        return false;
      }
    }
  }

  async #forward(stream: Duplex, reader: RequestReader, request: IncomingRequest, exchange: Exchange, auth: UpstreamAuth, dropClientImpersonation: boolean): Promise<void> {
    const { head, body } = request;
    if (head.expectContinue) stream.write(CONTINUE);
    let response: ForwardResponse;
    try {
      response = await this.#api.send(auth, {
        method: head.method,
        target: head.target,
        headers: forwardedFields(head, { upgrade: false, impersonating: dropClientImpersonation }).concat(this.#impersonationFields()),
        framing: head.framing,
        body,
      });
    } catch (err) {
      const refusal = body.errored instanceof FramingRefusal ? body.errored : err instanceof FramingRefusal ? err : undefined;
      if (refusal !== undefined) {
        this.#answerStatus(stream, exchange, head.method, refusal.status, `kubepair agent: ${refusal.message}`, true);
        return;
      }
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      this.#answerStatus(stream, exchange, head.method, 502, `kubepair agent: the API server cannot be reached (${code})`, true);
      return;
    }
    exchange.status = response.status;
    if (response.status === 401) this.#options.upstream.invalidateAuth();
    const noBody = responseHasNoBody(head.method, response.status);
    const framing: ResponseBodyFraming = noBody
      ? response.contentLength !== undefined && head.method === 'HEAD'
        ? { kind: 'length', length: response.contentLength }
        : { kind: 'none' }
      : response.contentLength !== undefined
        ? { kind: 'length', length: response.contentLength }
        : { kind: 'chunked' };
    const writer = new ResponseWriter(stream);
    await this.#relayAnswer(stream, response.body, writer, exchange, () => response.abort(), () => writer.start(response.status, response.headers, framing, head.close, noBody));
    const bodyDone = !hasBody(head.framing) || body.readableEnded;
    if (stream.destroyed || !writer.complete) {
      stream.destroy();
    } else if (head.close || !bodyDone) {
      this.#endConnection(stream);
    } else {
      reader.next();
    }
    this.#finish(exchange);
  }

  /**
   * Write a response head, then copy its body to the client with backpressure, hashing and
   * counting exactly what is passed on. Resolves when the body ended, failed, or the client went away.
   *
   * The API server's body arrives in pieces of at most 16 KiB (its TLS records and HTTP/2
   * frames), many in one event-loop turn: they are corked and reach the tunnel stream as one
   * write at the end of the turn, so the tunnel seals and sends one record for them. The source
   * is paused only when more than AGENT_RESPONSE_AHEAD_MAX_BYTES wait in the stream's buffer,
   * not at the stream's own 16 KiB mark (docs/performance.md "kubectl get through proxy mode").
   * The head (`writeHead`) is written held (holdWrites): it leaves with the first pieces of the
   * body, or alone at the end of the event-loop iteration when none came in it.
   */
  #relayAnswer(stream: Duplex, source: Readable, writer: ResponseWriter, exchange: Exchange, abort: () => void, writeHead: () => void): Promise<void> {
    const releaseHead = holdWrites(stream);
    writeHead();
    return new Promise((resolve) => {
      let done = false;
      const batch = turnBatch(stream);
      const finish = (ok: boolean): void => {
        if (done) return;
        done = true;
        source.off('data', onData);
        stream.off('drain', onDrain);
        stream.off('close', onClientClose);
        if (ok) writer.end();
        else {
          abort();
          stream.destroy();
        }
        releaseHead();
        resolve();
      };
      const onData = (chunk: Buffer): void => {
        exchange.hash.update(chunk);
        exchange.bytesOut += chunk.length;
        try {
          batch();
          writer.write(chunk);
          // Security: a client that does not read holds at most this much of the answer here;
          // the rest waits in the API server's flow-control window.
          if (stream.writableLength > AGENT_RESPONSE_AHEAD_MAX_BYTES) source.pause();
        } catch {
          finish(false); // more bytes than the announced length
        }
      };
      const onDrain = (): void => {
        source.resume();
      };
      const onClientClose = (): void => finish(false);
      source.on('data', onData);
      source.once('end', () => finish(true));
      source.once('error', () => finish(false));
      source.once('close', () => finish(source.readableEnded));
      stream.on('drain', onDrain);
      stream.once('close', onClientClose);
      if (stream.destroyed) finish(false);
    });
  }

  #impersonationFields(): HeaderField[] {
    const impersonate = this.#options.impersonate;
    if (impersonate === undefined) return [];
    return [['impersonate-user', impersonate.user], ...impersonate.groups.map((group): HeaderField => ['impersonate-group', group])];
  }

  #authority(): string {
    const { host, port } = this.#options.upstream;
    const name = host.includes(':') ? `[${host}]` : host;
    return port === 443 ? name : `${name}:${port}`;
  }

  /** True when this request is a terminal session: exec or attach (`kubectl debug` attaches). */
  #isTerminalSession(exchange: Exchange): boolean {
    const a = exchange.attributes;
    return a.kind === 'resource' && a.resource === 'pods' && TERMINAL_SUBRESOURCES.has(a.subresource);
  }

  /** True when this request is a terminal session (exec, attach) and the share records them. */
  #isRecorded(exchange: Exchange): boolean {
    return this.#options.recording !== undefined && this.#isTerminalSession(exchange);
  }

  /**
   * Create the session's recording before the API server is dialled. Returns false when the
   * session must be refused: the file cannot be written and the share fails closed.
   */
  #startRecording(exchange: Exchange): boolean {
    const options = this.#options.recording;
    if (options === undefined || !this.#isRecorded(exchange)) return true;
    const a = exchange.attributes;
    const title = a.kind === 'resource' ? `kubectl ${a.subresource} ${a.namespace}/${a.name}` : 'kubectl';
    const name = `${new Date(exchange.started).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${exchange.id}-${randomBytes(4).toString('hex')}`;
    try {
      const recording = SessionRecording.create(
        options.logDirectory,
        name,
        { version: 2, width: RECORDING_DEFAULT_COLUMNS, height: RECORDING_DEFAULT_ROWS, timestamp: Math.floor(exchange.started / 1000), title },
        options.maxBytes,
      );
      exchange.recorder = new TerminalRecorder(recording, { input: options.input });
      this.#recordingBroken = undefined;
      return true;
    } catch (err) {
      exchange.recordingError = err instanceof KubepairError ? err.message : 'the recording cannot be created';
      this.#recordingBroken = exchange.recordingError;
      return options.failOpen;
    }
  }

  async #upgrade(stream: Duplex, reader: RequestReader, head: RequestHead, exchange: Exchange, auth: UpstreamAuth, dropClientImpersonation: boolean): Promise<void> {
    const upstream = this.#options.upstream;
    const prefix = upstream.server.pathname.replace(/\/+$/, '');
    if (!this.#startRecording(exchange)) {
      this.#answer(stream, exchange, head.method, REFUSAL_TEXT_STATUS, REFUSAL_TEXT_HEADERS, RECORDING_BLOCKED_MESSAGE, true);
      return;
    }
    // A cut while the API server has not answered yet (a narrowed policy, #reconsider): nothing
    // has gone to the client, so it gets an ordinary Status answer, and the API server's
    // connection is closed as soon as it is there.
    let cutBeforeSwitch = false;
    exchange.cut = (code, message) => {
      cutBeforeSwitch = true;
      exchange.cut = undefined;
      this.#answerStatus(stream, exchange, head.method, code, message, true);
    };
    let outcome;
    try {
      outcome = await dialUpgrade(upstream, auth, this.#authority(), {
        method: head.method,
        path: `${prefix}${head.target}`,
        headers: forwardedFields(head, { upgrade: true, impersonating: dropClientImpersonation }).concat(this.#impersonationFields()),
        upgrade: head.upgrade ?? '',
      });
    } catch (err) {
      exchange.cut = undefined;
      if (cutBeforeSwitch) return;
      if (err instanceof FramingRefusal) this.#answerStatus(stream, exchange, head.method, err.status, `kubepair agent: ${err.message}`, true);
      else {
        const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        this.#answerStatus(stream, exchange, head.method, 502, `kubepair agent: the API server cannot be reached (${code})`, true);
      }
      return;
    }
    exchange.cut = undefined;
    if (cutBeforeSwitch) {
      outcome.socket.destroy();
      return;
    }
    exchange.status = outcome.head.status;
    if (exchange.status === 401) upstream.invalidateAuth();
    const socket = outcome.socket;
    if (stream.destroyed) {
      socket.destroy();
      this.#finish(exchange);
      return;
    }
    if (outcome.kind === 'answered') {
      // Not switched: an ordinary answer, then both connections close; nothing the client sent
      // after its request head ever reaches the API server.
      const writer = new ResponseWriter(stream);
      const noBody = responseHasNoBody(head.method, outcome.head.status);
      const framing: ResponseBodyFraming = noBody ? { kind: 'none' } : outcome.length !== undefined ? { kind: 'length', length: outcome.length } : { kind: 'chunked' };
      await this.#relayAnswer(stream, outcome.body, writer, exchange, () => socket.destroy(), () => writer.start(outcome.head.status, outcome.head.headers, framing, true, noBody));
      socket.destroy();
      if (!stream.destroyed) this.#endConnection(stream);
      this.#finish(exchange);
      return;
    }
    const protocol = channelProtocolOf(outcome.head.headers);
    if (exchange.recorder !== undefined && protocol === undefined) {
      // Security: the API server chose a form the recorder cannot read (a base64 channel
      // protocol the client offered): refused before the client sees the 101 (fail closed).
      exchange.recordingError = 'the chosen WebSocket subprotocol is not recorded';
      if (this.#options.recording?.failOpen !== true) {
        socket.destroy();
        this.#answerStatus(stream, exchange, head.method, 403, UNRECORDABLE_PROTOCOL_MESSAGE, true);
        return;
      }
    }
    // Switched: the 101 head goes to the client, then bytes flow raw both ways. The client's
    // bytes that arrived behind its request head are the upgraded protocol's first bytes.
    const early = reader.detach();
    stream.write(serializeResponseHead(101, outcome.head.headers));
    this.#splice(stream, socket, early, outcome.rest, exchange, this.#isTerminalSession(exchange) ? protocol : undefined);
  }

  /**
   * Bytes flow raw both ways, each direction read by the recorder (when the session is recorded)
   * and counted before it is passed on. `protocol` is the binary channel protocol of an exec or
   * attach session (undefined for anything else): such a session, when the agent cuts it (a
   * narrowed policy, a recording that stopped), is told why when it can be (#cut).
   */
  #splice(stream: Duplex, socket: Duplex, early: Buffer, rest: Buffer, exchange: Exchange, protocol: string | undefined): void {
    // Recorded before it is passed on: these listeners run before anything writes the bytes on.
    const recorder = exchange.recordingError === undefined ? exchange.recorder : undefined;
    const failClosed = this.#options.recording?.failOpen !== true;
    // Where the bytes passed on to the client stand between WebSocket frames.
    const boundary = protocol !== undefined ? new WebSocketBoundary() : undefined;
    let cut = false;
    /**
     * Security: the API server's connection is destroyed first, so nothing the client sends from
     * here reaches it. Then, for a channel-protocol session whose bytes to the client end a whole
     * frame outside a fragmented message (and before any close), the agent's own Status on the
     * error channel and a close frame end the client's side, bounded by
     * UPGRADE_CUT_FLUSH_TIMEOUT_MS; anything else (mid-frame, port-forward, base64 forms) is
     * destroyed as it is, since bytes added mid-frame would be read as the frame's payload.
     * Nothing is ever added towards the API server.
     */
    const cutSession = (code: number, message: string): void => {
      if (cut) return;
      cut = true;
      socket.destroy();
      if (protocol === undefined || boundary === undefined || !boundary.canAddMessage || stream.destroyed || stream.writableEnded) {
        stream.destroy();
        return;
      }
      // What the client sends from here reaches nobody: it is read and dropped until it closes.
      stream.off('data', countIn);
      stream.unpipe(socket);
      stream.resume();
      const bytes = channelFailureBytes(protocol, code, message);
      exchange.hash.update(bytes);
      exchange.bytesOut += bytes.length;
      stream.end(bytes);
      const flush = setTimeout(() => stream.destroy(), UPGRADE_CUT_FLUSH_TIMEOUT_MS).unref();
      const flushed = (): void => clearTimeout(flush);
      stream.once('finish', flushed);
      stream.once('close', flushed);
    };
    exchange.cut = cutSession;
    const recordingStopped = (): boolean => {
      // Security: a session whose recording stopped (the disk, the size bound, a frame the
      // recorder cannot read) is ended unless the sharer chose --recording-fail-open. The chunk
      // in hand is not passed on: the session is cut before anything writes it on.
      if (recorder?.error === undefined || !failClosed) return false;
      cutSession(500, recordingCutMessage(recorder.error));
      return true;
    };
    const fromServer = (chunk: Buffer): void => {
      if (cut) return;
      recorder?.fromServer(chunk);
      if (recordingStopped()) return;
      boundary?.push(chunk);
      exchange.hash.update(chunk);
      exchange.bytesOut += chunk.length;
      // Backpressure: the API server is read on only once the client's side has drained.
      if (!stream.destroyed && !stream.write(chunk)) socket.pause();
    };
    const countIn = (chunk: Buffer): void => {
      recorder?.fromClient(chunk);
      if (recordingStopped()) return;
      exchange.bytesIn += chunk.length;
    };
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      exchange.cut = undefined;
      this.#finish(exchange);
    };
    stream.once('close', () => {
      socket.destroy();
      finish();
    });
    if (rest.length > 0) fromServer(rest);
    if (early.length > 0) {
      countIn(early);
      if (!socket.destroyed) socket.write(early);
    }
    // The API server's bytes are written on here, not piped: a session cut while a chunk is in
    // hand must be able to end the client's side with its own bytes before that chunk.
    socket.on('data', fromServer);
    stream.on('drain', () => socket.resume());
    socket.once('end', () => {
      if (!cut && !stream.destroyed && !stream.writableEnded) stream.end();
    });
    stream.on('data', countIn);
    stream.pipe(socket);
    socket.resume();
    stream.resume();
    socket.on('close', () => {
      if (stream.destroyed) return;
      // A clean end: the client's side was ended after everything was written. An abrupt
      // one (a reset, a TLS error) ends it too, after every byte the API server sent before:
      // destroying the stream here dropped what still waited in its buffers, and a reset with an
      // error code makes a Node HTTP/2 client drop what it holds unread, so the client could not
      // have those bytes and also be told. The upgraded protocol shows a cut (a WebSocket
      // without its close frame). Nothing reaches the API server any more: drain what the
      // client still sends so its end arrives, and give it a bounded time to close.
      if (!stream.writableEnded) stream.end();
      stream.unpipe(socket);
      stream.resume();
      const grace = setTimeout(() => stream.destroy(), UPGRADE_CLIENT_CLOSE_GRACE_MS).unref();
      stream.once('close', () => clearTimeout(grace));
    });
  }

  /** Finish the client's side after the last response; stop reading what it still sends. */
  #endConnection(stream: Duplex): void {
    stream.end();
    stream.resume();
    const grace = setTimeout(() => stream.destroy(), UPGRADE_CLIENT_CLOSE_GRACE_MS).unref();
    stream.once('close', () => clearTimeout(grace));
  }

  /**
   * Answer a request from the agent itself (a refusal, an error): the body is hashed and counted
   * like a forwarded one and HEAD gets no body. With `close` the connection ends after it.
   */
  #answer(stream: Duplex, exchange: Exchange, method: string, code: number, headers: readonly HeaderField[], body: string, close: boolean): void {
    exchange.status = code;
    if (!stream.destroyed && stream.writable) {
      const bytes = Buffer.from(body, 'utf8');
      const writer = new ResponseWriter(stream);
      const fields = headers.filter(([name]) => name !== 'content-length');
      writer.start(code, fields, { kind: 'length', length: bytes.length }, close, method === 'HEAD');
      if (method !== 'HEAD') {
        exchange.hash.update(bytes);
        exchange.bytesOut += bytes.length;
        writer.write(bytes);
      }
      if (close) this.#endConnection(stream);
    }
    this.#finish(exchange);
  }

  #answerStatus(stream: Duplex, exchange: Exchange, method: string, code: number, message: string, close: boolean): void {
    this.#answer(stream, exchange, method, code, KUBE_STATUS_HEADERS, kubeStatusBody(code, message), close);
  }
}
