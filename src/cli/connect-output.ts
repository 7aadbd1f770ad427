/**
 * What `kubepair connect` prints: progress while the sharer's side has not answered yet, a banner with cluster, mode, policy and expiry from the
 * validated session description, where the kubeconfig is, one line for each plain local
 * connection the agent refused, and one line when the tunnel dies.
 * Human text goes to stderr; `--no-shell` prints the export line on stdout so scripts can
 * `eval` it.
 *
 * Untrusted input: every string in the session description (the agent chose them) and every
 * error message (they may quote the relay or the agent). Each goes through inertText before it
 * is printed. The words that say how the session is protected — the mode and the policy mode —
 * are never the agent's text: they are looked up from the validated enum values and printed on
 * lines of their own before any free text, and each policy rule is printed on its own line,
 * quoted, in printable ASCII only and short enough not to wrap, so no rule can start a line
 * that imitates the banner (issue 10).
 */
import { performance } from 'node:perf_hooks';
import { droppedLine, resumedLine, shownOutageMs } from './link-status.js';
import type { ClientTunnel, ForeignUserRefusal, PortForward, RefusedConnection, SessionEndReason, TunnelSessionChange } from '../client/client-tunnel.js';
import { policyLine } from './policy-line.js';
import type { KubepairError } from '../errors/index.js';
import { BANNER_RULE_MAX_CHARS, CONNECT_END_WARNINGS_MS, CONNECT_WAIT_PROGRESS_INTERVAL_MS, TERMINAL_MESSAGE_MAX_CHARS } from '../limits.js';
import { sanitizeClusterName } from '../session/cluster-name.js';
import type { PolicyMode } from '../protocol/policy-shape.js';
import type { SessionDescription } from '../protocol/session-description.js';
import { inertText } from '../terminal/inert-text.js';
import { MAX_TIMER_MS } from '../units.js';
import { clockAndRelative, relativeDuration } from './relative-time.js';

const MODE_TEXT: Readonly<Record<SessionDescription['mode'], string>> = {
  proxy: 'proxy',
  passthrough: 'passthrough (TLS end to end; you hold credentials)',
};

const POLICY_TEXT: Readonly<Record<PolicyMode, string>> = {
  readonly: 'readonly',
  guarded: 'guarded',
  open: 'open',
};

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

/** The banner lines for a validated session description. */
export function bannerLines(description: SessionDescription): string[] {
  const policy = description.policy;
  const proxy = description.mode === 'proxy';
  const ruleCount = policy.allow.length + policy.deny.length;
  const lines = [
    `kubepair: paired with cluster "${inertText(sanitizeClusterName(description.cluster.name))}"`,
    `  mode:    ${MODE_TEXT[description.mode]}`,
    `  policy:  ${proxy ? `${POLICY_TEXT[policy.mode]}${ruleCount > 0 ? `, ${plural(ruleCount, 'rule')}:` : ''}` : 'none (passthrough)'}`,
  ];
  if (proxy) {
    const rule = (kind: string, text: string): string => `    ${kind} "${inertText(text, { asciiOnly: true, maxChars: BANNER_RULE_MAX_CHARS })}"`;
    for (const text of policy.deny) lines.push(rule('deny ', text));
    for (const text of policy.allow) lines.push(rule('allow', text));
  }
  if (description.namespace !== undefined) lines.push(`  namespace: ${inertText(description.namespace)}`);
  const expires = new Date(description.expires_at);
  lines.push(`  expires: ${Number.isNaN(expires.getTime()) ? inertText(description.expires_at) : `${clockAndRelative(expires, new Date())}`}`);
  const extra = description.targets.filter((t) => t !== 'kube-apiserver');
  if (extra.length > 0) lines.push(`  targets: ${extra.map((target) => inertText(target)).join(', ')} (use --forward LOCALPORT:NAME)`);
  return lines;
}

/**
 * `export NAME=VALUE` for a POSIX shell's `eval`: the value as it is when it has only characters
 * no shell treats specially, else in single quotes (a `'` inside closed, escaped and reopened).
 */
export function exportLine(name: string, value: string): string {
  const quoted = /^[A-Za-z0-9_./:@%+,=-]+$/.test(value) ? value : `'${value.replaceAll("'", "'\\''")}'`;
  return `export ${name}=${quoted}`;
}

/**
 * The words for why a session ended (before "; the kubeconfig is removed"). `resumeWindowS` is
 * the agent's window from the session description (absent or 0: a drop ends the session).
 */
export function sessionEndLine(reason: SessionEndReason, error: KubepairError | undefined, resumeWindowS = 0): string {
  const message = error === undefined ? undefined : inertText(error.message, { maxChars: TERMINAL_MESSAGE_MAX_CHARS });
  const notBack = resumeWindowS > 0 ? ` and did not come back within the resume window (${relativeDuration(resumeWindowS * 1000)})` : '';
  switch (reason) {
    case 'sharer_stopped':
      return 'the session ended: the sharer stopped sharing';
    case 'lifetime_reached':
      return 'the session ended: it reached its maximum lifetime';
    case 'sharer_ended_session':
      return 'the session ended: the sharer ended it';
    case 'relay_gone':
      return `the session ended: the relay went away${notBack}`;
    case 'sharer_gone':
      return `the session ended: the sharer's side went away${notBack}`;
    case 'channel_error':
      return `the session ended: the secure channel failed${message !== undefined ? ` (${message})` : ''}`;
    case 'unknown':
      return `the tunnel closed${message !== undefined ? `: ${message}` : ''}`;
  }
}

export class ConnectOutput {
  #waiting: NodeJS.Timeout | undefined;
  readonly #endWarnings: NodeJS.Timeout[] = [];
  /** The agent's resume window, from the session description. */
  #resumeWindowS = 0;

  /** Print what `tunnel` reports while it pairs and serves (its end is the caller's to report). */
  watch(tunnel: ClientTunnel): void {
    tunnel.on('staleKubeconfigsRemoved', (count) => this.staleKubeconfigsRemoved(count));
    tunnel.on('waitingForAgent', () => this.waitingForAgent());
    tunnel.on('paired', (description) => {
      this.#stopWaiting();
      this.paired(description);
      this.#resumeWindowS = description.resume_window_s ?? 0;
      this.#warnBeforeEnd(new Date(description.expires_at));
    });
    tunnel.on('closed', () => {
      this.#stopWaiting();
      for (const timer of this.#endWarnings) clearTimeout(timer);
    });
    tunnel.on('ready', (ready) => this.ready(ready));
    tunnel.on('sessionChanged', (change) => {
      this.sessionChanged(change);
      for (const timer of this.#endWarnings.splice(0)) clearTimeout(timer);
      this.#warnBeforeEnd(change.expiresAt);
    });
    tunnel.on('connectionRefused', (connection, error) => this.connectionRefused(connection, error));
    tunnel.on('foreignUserRefused', (refusal) => this.foreignUserRefused(refusal));
    let droppedAt: number | undefined;
    tunnel.on('linkDropped', (side) => {
      if (droppedAt === undefined) process.stderr.write(`\nkubepair: ${droppedLine(side, 'agent')}\n`);
      droppedAt ??= performance.now();
    });
    tunnel.on('linkResumed', (info) => {
      process.stderr.write(`kubepair: ${resumedLine(shownOutageMs(info.outageMs, droppedAt, performance.now()))}\n`);
      droppedAt = undefined;
    });
  }

  /** Say that the code reached the relay, then every few seconds that connect still waits. */
  waitingForAgent(): void {
    this.#stopWaiting();
    const since = Date.now();
    process.stderr.write('kubepair: the relay knows the code; waiting for the sharer\'s kubepair to answer...\n');
    this.#waiting = setInterval(() => {
      process.stderr.write(`kubepair: still waiting for the sharer's kubepair (${Math.round((Date.now() - since) / 1000)} s)\n`);
    }, CONNECT_WAIT_PROGRESS_INTERVAL_MS);
    this.#waiting.unref();
  }

  /** Warn CONNECT_END_WARNINGS_MS before the session's maximum lifetime ends (the last one at once when less is left). */
  #warnBeforeEnd(expiresAt: Date): void {
    if (Number.isNaN(expiresAt.getTime())) return;
    const left = expiresAt.getTime() - Date.now();
    const last = Math.min(...CONNECT_END_WARNINGS_MS);
    for (const before of CONNECT_END_WARNINGS_MS) {
      // Paired with less than the last warning's time left (a slow pairing, a session nearly
      // over): that warning comes at once rather than never. Earlier ones that passed are skipped.
      const delay = before === last && left > 0 ? Math.max(0, left - before) : left - before;
      if (delay < 0) continue;
      const timer = setTimeout(() => {
        process.stderr.write(`\nkubepair: the session reaches its maximum lifetime and ends at ${clockAndRelative(expiresAt, new Date())}\n`);
      }, Math.min(delay, MAX_TIMER_MS));
      timer.unref();
      this.#endWarnings.push(timer);
    }
  }

  #stopWaiting(): void {
    clearInterval(this.#waiting);
    this.#waiting = undefined;
  }

  staleKubeconfigsRemoved(count: number): void {
    process.stderr.write(`kubepair: removed ${plural(count, 'kubeconfig')} left behind by connect processes that no longer run\n`);
  }

  paired(description: SessionDescription): void {
    process.stderr.write(bannerLines(description).join('\n') + '\n');
  }

  ready(info: { readonly kubeconfig: string; readonly port: number; readonly forwards: readonly PortForward[]; readonly ramBacked: boolean }): void {
    const lines = [`  API:     https://127.0.0.1:${info.port}`, `  kubeconfig: ${info.kubeconfig}${info.ramBacked ? '' : ' (no RAM-backed directory found; removed on exit)'}`];
    for (const forward of info.forwards) lines.push(`  forward: 127.0.0.1:${forward.localPort} -> ${forward.target}`);
    process.stderr.write(lines.join('\n') + '\n');
  }

  /**
   * `--no-shell`: the environment for the user's own kubectl on stdout, for `eval`: the
   * kubeconfig and kubectl's cache directory in the session's runtime directory (removed when
   * connect ends), then wait.
   */
  exports(environment: { readonly kubeconfig: string; readonly cacheDir: string }): void {
    process.stdout.write(`${exportLine('KUBECONFIG', environment.kubeconfig)}\n${exportLine('KUBECACHEDIR', environment.cacheDir)}\n`);
    process.stderr.write('kubepair: waiting; press Ctrl-C to end the session\n');
  }

  /**
   * The sharer changed the session (its `session_update`): one line that says what is in force
   * now, so what connect showed stays true. The mode comes from the validated enum; rules are
   * quoted and inert (policy-line.ts).
   */
  sessionChanged(change: TunnelSessionChange): void {
    const parts: string[] = [];
    if (policyLine(change.policy) !== policyLine(change.previousPolicy)) parts.push(`policy is now ${policyLine(change.policy)} (was ${policyLine(change.previousPolicy)})`);
    if (change.expiresAt.getTime() !== change.previousExpiresAt.getTime()) parts.push(`it now ends at ${clockAndRelative(change.expiresAt, new Date())}`);
    if (parts.length === 0) return;
    process.stderr.write(`\nkubepair: the sharer changed this session: ${parts.join('; ')}\n`);
  }

  /** The control socket could not be opened: connect goes on, but kubepair status cannot reach it. */
  controlUnavailable(error: KubepairError): void {
    process.stderr.write(`kubepair: no control socket (${inertText(error.message, { maxChars: TERMINAL_MESSAGE_MAX_CHARS })}); "kubepair status" cannot reach this connect\n`);
  }

  connectionRefused(info: RefusedConnection, error: KubepairError): void {
    process.stderr.write(`kubepair: a connection on 127.0.0.1:${info.localPort} (${inertText(info.target)}) was closed: ${inertText(error.message, { maxChars: TERMINAL_MESSAGE_MAX_CHARS })}\n`);
  }

  foreignUserRefused(refusal: ForeignUserRefusal): void {
    const who = refusal.uids.length === 1 ? `uid ${refusal.uids[0]}` : `uids ${refusal.uids.join(', ')}`;
    process.stderr.write(`kubepair: closed a connection on 127.0.0.1:${refusal.localPort} (${inertText(refusal.target)}) from another local user (${who}): only your user and root may use this tunnel; further ones from that user are closed without a word\n`);
  }

  /**
   * The one line that says why the session ended under connect (issue 11 §3). Only the words
   * for `channel_error` and `unknown` quote the error, inert.
   */
  tunnelClosed(end: { readonly reason: SessionEndReason; readonly error: KubepairError | undefined }): void {
    process.stderr.write(`\nkubepair: ${sessionEndLine(end.reason, end.error, this.#resumeWindowS)}; the kubeconfig is removed\n`);
  }
}
