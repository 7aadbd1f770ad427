/**
 * What `kubepair share` prints. First what is shared (context, cluster, API server, mode, policy
 * in plain words, relay, session lifetime). On a terminal: the code large and clear with a live
 * countdown, which goes on after a failed attempt and is erased, not left frozen, when someone
 * connects.
 * Otherwise (a script, a log): exactly one line `Pairing code: 42-7315-0286` per code on
 * stdout, so scripts can read it; everything else goes to stderr. Secrets other than the code
 * itself are never printed; request lines are built from audit records (as the proxy made them,
 * before the log redacts them) and go through the redaction module like every log line. Each
 * connection to a raw TCP target (`--expose`, the API server in passthrough) gets a line when it
 * opens and one when it closes, with the bytes each way and how long it lasted.
 *
 * Untrusted input: what the client sent (paths, names, namespaces, verbs of its requests) and
 * error messages that quote the client or the relay. Every such string goes through inertText
 * before it is printed, so a client cannot write escape sequences to the sharer's terminal.
 */
import { performance } from 'node:perf_hooks';
import { droppedLine, outageText, resumedLine, shownOutageMs } from './link-status.js';
import type { RequestAuditRecord } from '../audit/record.js';
import { redactString } from '../audit/redact.js';
import type { PairingCode } from '../channel/pairing-code.js';
import { formatPairingCode } from '../channel/pairing-code.js';
import type { ForwardedConnection, ForwardedConnectionEnd, SessionChange } from '../agent/agent-session.js';
import { policyLine } from './policy-line.js';
import type { CodeOffer } from '../agent/code-offer.js';
import { KubepairError } from '../errors/index.js';
import { SHARE_AUDIT_ERROR_REPORT_INTERVAL_MS, TERMINAL_MESSAGE_MAX_CHARS } from '../limits.js';
import { sanitizeClusterName } from '../session/cluster-name.js';
import type { SessionDescription } from '../protocol/session-description.js';
import { inertText } from '../terminal/inert-text.js';
import type { PolicyMode } from '../protocol/policy-shape.js';
import { clockAndRelative, localClockTime, relativeDuration } from './relative-time.js';

/** A field of a client's request as the sharer may see it: secrets redacted, then made inert. */
function requestField(value: string): string {
  return inertText(redactString(value));
}

/** An error message (it may quote the client or the relay), made inert. */
function messageText(error: KubepairError): string {
  return inertText(error.message, { maxChars: TERMINAL_MESSAGE_MAX_CHARS });
}

/** "850 B", "4.1 KiB", "12.0 MiB": a byte count for a person. */
export function byteCountText(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'] as const;
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

function remaining(until: Date): string {
  const seconds = Math.max(0, Math.round((until.getTime() - Date.now()) / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}

/** What a share offers, shown next to the code before anyone connects (issue 11 §3). */
export interface ShareSummary {
  readonly context: string;
  readonly cluster: string;
  readonly server: string;
  readonly mode: 'proxy' | 'passthrough';
  readonly policy: PolicyMode;
  readonly relay: string;
  readonly sessionLifetimeMs: number;
  readonly expose: readonly string[];
  /** `--approve`: how long a held request waits for the sharer, in ms. */
  readonly approvalTimeoutMs?: number;
}

const POLICY_MEANING: Readonly<Record<PolicyMode, string>> = {
  readonly: 'reads only: get, list, watch, logs; not Secrets',
  guarded: 'reads, and CAN READ SECRETS and create tokens; more only where --allow matches',
  open: 'EVERYTHING your credentials allow',
};

/** The lines that say what a share offers. Only the sharer's own settings: no peer text. */
export function summaryLines(summary: ShareSummary, now: Date): string[] {
  const passthrough = summary.mode === 'passthrough';
  const lines = [
    'kubepair share: sharing',
    `  context:  ${inertText(summary.context)}`,
    `  cluster:  ${inertText(summary.cluster)}`,
    `  API:      ${inertText(summary.server)}`,
    `  mode:     ${passthrough ? 'passthrough (the client receives credentials; no policy, no request log)' : 'proxy (every request passes the policy and is audited)'}`,
    `  policy:   ${passthrough ? 'none: the client can do everything the credentials allow' : `${summary.policy} (${POLICY_MEANING[summary.policy]})`}`,
    `  relay:    ${inertText(summary.relay)}`,
    `  session:  at most ${relativeDuration(summary.sessionLifetimeMs)} after pairing (paired now: until ${localClockTime(new Date(now.getTime() + summary.sessionLifetimeMs), now)})`,
  ];
  if (summary.approvalTimeoutMs !== undefined) {
    lines.push(`  approve:  you are asked before a request is refused for its tier (--deny refusals are never asked); unanswered after ${relativeDuration(summary.approvalTimeoutMs)} it is declined`);
  }
  if (summary.expose.length > 0) lines.push(`  TCP:      ${summary.expose.map((name) => inertText(name)).join(', ')}`);
  return lines;
}

/** How a request held for the sharer ended, on its request line. */
const APPROVAL_TEXT: Readonly<Record<NonNullable<RequestAuditRecord['approval']>, string>> = {
  approved_once: 'approved once by you',
  approved_session: 'approved by you for this session',
  declined: 'declined by you',
  timed_out: 'refused: no answer in time',
  queue_full: 'refused: too many requests waited for approval',
  withdrawn: 'withdrawn by the client while it waited',
  closed: 'refused: share stopped',
  session_change_failed: 'refused: approved by you for this session, but the policy change could not be made',
};

export class ShareOutput {
  readonly #tty: boolean;
  readonly #out: NodeJS.WriteStream;
  readonly #err: NodeJS.WriteStream;
  #countdown: NodeJS.Timeout | undefined;
  /** The code on offer and when it expires, while it is unused (the countdown resumes after a failed attempt). */
  #offered: Date | undefined;
  #lastAuditReport: number | undefined;
  #auditFailuresUnreported = 0;
  /** What is shared, until it is printed next to the first code. */
  #summary: ShareSummary | undefined;

  constructor(out: NodeJS.WriteStream = process.stdout, err: NodeJS.WriteStream = process.stderr) {
    this.#out = out;
    this.#err = err;
    this.#tty = out.isTTY === true;
  }

  /** Print what `offer` and each of its sessions report (the offer's end is the caller's to report). */
  watch(offer: CodeOffer): void {
    offer.on('code', (code, expiresAt) => this.code(code, expiresAt));
    offer.on('attemptFailed', (failures, max, error) => this.attemptFailed(failures, max, error));
    offer.on('codeExpired', () => this.codeExpired());
    offer.on('relayLost', (error, nameplate) => this.relayLost(error, nameplate));
    offer.on('relayUnavailable', (error) => this.#relayLine(`cannot reach the relay (${messageText(error)}); retrying until it answers (Ctrl-C to stop)`));
    offer.on('relayAsksToWait', (error, waitMs) => this.#relayLine(`the relay asks to wait (${messageText(error)}); trying again in ${outageText(waitMs)}`));
    offer.on('relayBack', (outageMs) => this.#relayLine(`the relay answers again after ${outageText(outageMs)}; a new code follows`));
    offer.on('session', (session) => {
      session.on('established', (description) => this.connected(description));
      session.on('request', (record) => this.request(record));
      session.on('connectionOpened', (connection) => this.connectionOpened(connection));
      session.on('connectionClosed', (connection, end) => this.connectionClosed(connection, end));
      session.on('ended', (error) => this.disconnected(error));
      session.on('changed', (change) => this.sessionChanged(change));
      let droppedAt: number | undefined;
      session.on('linkDropped', (side) => {
        if (droppedAt === undefined) this.#err.write(`kubepair share: ${droppedLine(side, 'client')}\n`);
        droppedAt ??= performance.now();
      });
      session.on('linkResumed', (info) => {
        this.#err.write(`kubepair share: ${resumedLine(shownOutageMs(info.outageMs, droppedAt, performance.now()))}\n`);
        droppedAt = undefined;
      });
    });
  }

  /**
   * Say what is shared: printed once, with the first code, so a share that fails before the
   * relay hands out a code shows only its one error line.
   */
  sharing(summary: ShareSummary): void {
    this.#summary = summary;
  }

  code(code: PairingCode, expiresAt: Date): void {
    this.#stopCountdown();
    if (this.#summary !== undefined) {
      this.#err.write(summaryLines(this.#summary, new Date()).join('\n') + '\n');
      this.#summary = undefined;
    }
    this.#offered = expiresAt;
    const text = formatPairingCode(code);
    if (!this.#tty) {
      this.#out.write(`Pairing code: ${text}\n`);
      this.#err.write(`kubepair share: read the code to the person connecting; it expires at ${clockAndRelative(expiresAt, new Date())} if unused\n`);
      return;
    }
    this.#out.write(`\n  Pairing code:\n\n      \u001b[1m${text.split('').join(' ')}\u001b[0m\n\n  On the laptop run:  kubepair connect ${text}\n\n`);
    this.#startCountdown();
  }

  /** The live "expires in m:ss" line of the code on offer (terminal only). */
  #startCountdown(): void {
    const expiresAt = this.#offered;
    if (!this.#tty || expiresAt === undefined || expiresAt.getTime() <= Date.now()) return;
    const tick = (): void => {
      this.#out.write(`\r  expires in ${remaining(expiresAt)} if unused   `);
      if (expiresAt.getTime() <= Date.now()) this.#stopCountdown();
    };
    tick();
    this.#countdown = setInterval(tick, 1000);
  }

  attemptFailed(failures: number, max: number, error: KubepairError): void {
    this.#stopCountdown();
    this.#err.write(`kubepair share: pairing attempt ${failures} of ${max} failed: ${messageText(error)}\n`);
    if (failures >= max) {
      this.#offered = undefined;
      this.#err.write('kubepair share: someone may be guessing the code; it is discarded and sharing stops\n');
      return;
    }
    // The same code is still on offer: its countdown goes on.
    this.#startCountdown();
  }

  connected(description: SessionDescription): void {
    this.#stopCountdown();
    this.#offered = undefined;
    const expires = new Date(description.expires_at);
    const until = Number.isNaN(expires.getTime()) ? inertText(description.expires_at) : clockAndRelative(expires, new Date());
    this.#err.write(
      `kubepair share: connected; sharing "${inertText(sanitizeClusterName(description.cluster.name))}" in ${description.mode} mode, policy ${description.policy.mode}, until ${until}\n`,
    );
  }

  request(record: RequestAuditRecord): void {
    // `create pods/exec`, as the client was told, not `create pods`.
    const resource = record.resource !== undefined && record.subresource !== undefined ? `${record.resource}/${record.subresource}` : record.resource;
    const what = [record.verb, resource ?? record.path, record.namespace, record.name]
      .filter((part): part is string => part !== undefined && part !== '')
      .map(requestField)
      .join(' ');
    const refused = record.decision === 'deny' ? ` (refused: ${record.rule !== undefined ? requestField(record.rule) : `policy, tier ${record.tier}`})` : '';
    // The recording of an exec/attach that could not be made or went wrong: the sharer sees why.
    const recording = record.recording_error !== undefined ? `; recording: ${inertText(record.recording_error, { maxChars: TERMINAL_MESSAGE_MAX_CHARS })}` : '';
    const approval = record.approval !== undefined ? ` (${APPROVAL_TEXT[record.approval]})` : '';
    this.#err.write(`  ${record.decision === 'allow' ? ' ' : '!'} ${record.status} ${what}${approval === '' ? refused : approval}${recording}\n`);
  }

  /** A client's connection to a raw TCP target is served (its audit record is written). */
  connectionOpened(connection: ForwardedConnection): void {
    this.#err.write(`  > ${inertText(connection.target)}: connection #${connection.streamId} opened\n`);
  }

  /** It closed: how long it lasted, the bytes each way, and the error that ended it, if any. */
  connectionClosed(connection: ForwardedConnection, end: ForwardedConnectionEnd): void {
    const error = end.error !== undefined ? `; ${inertText(end.error.message, { maxChars: TERMINAL_MESSAGE_MAX_CHARS })}` : '';
    this.#err.write(
      `  < ${inertText(connection.target)}: connection #${connection.streamId} closed after ${outageText(end.durationMs)} (${byteCountText(end.bytesIn)} from the client, ${byteCountText(end.bytesOut)} to it)${error}\n`,
    );
  }

  /**
   * An audit record could not be written. The first failure is printed at once with its cause;
   * while failures go on, at most one line per SHARE_AUDIT_ERROR_REPORT_INTERVAL_MS, counting
   * the ones in between (every refused request is another failed record).
   */
  auditFailed(error: KubepairError, failOpen: boolean): void {
    const now = Date.now();
    if (this.#lastAuditReport !== undefined && now - this.#lastAuditReport < SHARE_AUDIT_ERROR_REPORT_INTERVAL_MS) {
      this.#auditFailuresUnreported += 1;
      return;
    }
    const more = this.#auditFailuresUnreported > 0 ? ` (and ${this.#auditFailuresUnreported} more failures since the last report)` : '';
    this.#lastAuditReport = now;
    this.#auditFailuresUnreported = 0;
    const effect = failOpen
      ? '--audit-fail-open: connections and requests are still served, without a record'
      : 'every new connection and request is refused until it can be written again';
    this.#err.write(`kubepair share: audit log: ${inertText(describeWithCause(error), { maxChars: TERMINAL_MESSAGE_MAX_CHARS })}${more}; ${effect}\n`);
  }

  /** The sharer changed a running session through the control socket (kubepair session ...). */
  sessionChanged(change: SessionChange): void {
    if (change.kind === 'policy') {
      this.#err.write(`kubepair share: session policy changed to ${policyLine(change.policy)} (was ${policyLine(change.previous)}); the client was told\n`);
    } else {
      this.#err.write(`kubepair share: the session now ends at ${clockAndRelative(change.expiresAt, new Date())} (was ${localClockTime(change.previous, new Date())}); the client was told\n`);
    }
  }

  /** The control socket could not be opened: share goes on, but kubepair status and session cannot reach it. */
  controlUnavailable(error: KubepairError): void {
    this.#err.write(`kubepair share: no control socket (${messageText(error)}); "kubepair status" and "kubepair session" cannot reach this share\n`);
  }

  disconnected(error: KubepairError | undefined): void {
    this.#err.write(`kubepair share: the client disconnected${error !== undefined ? ` (${messageText(error)})` : ''}\n`);
  }

  /** The relay went away while a code was on offer: that code is void (the relay forgot it, or will). */
  relayLost(error: KubepairError, nameplate: string): void {
    this.#stopCountdown();
    this.#offered = undefined;
    this.#relayLine(`lost the relay (${messageText(error)}); the code ${inertText(nameplate)}-... is void; a new one follows when the relay is back`);
  }

  #relayLine(text: string): void {
    this.#stopCountdown();
    this.#err.write(`kubepair share: ${text}\n`);
  }

  codeExpired(): void {
    this.#stopCountdown();
    this.#offered = undefined;
    this.#err.write('kubepair share: the code expired unused; here is a fresh one\n');
  }

  close(): void {
    this.#stopCountdown();
  }

  /** Stop the countdown and erase its line, so no stale "expires in" stays on the screen. */
  #stopCountdown(): void {
    if (this.#countdown !== undefined) {
      clearInterval(this.#countdown);
      this.#countdown = undefined;
      this.#out.write('\r\u001b[2K');
    }
  }
}

/** The error's message and that of the first cause that is not a KubepairError (the errno, the path). */
function describeWithCause(error: KubepairError): string {
  let cause: unknown = error.cause;
  for (let depth = 0; cause instanceof Error && depth < 8; depth++) {
    if (!(cause instanceof KubepairError)) return `${error.message} (${cause.message})`;
    cause = cause.cause;
  }
  return error.message;
}
