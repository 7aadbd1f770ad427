/**
 * Running `kubepair share`, the front end of the agent role: the options go once through their
 * schema (command-options.ts) and the share settings are checked (agent/share-config.ts: every
 * mode/policy conflict) before the keychain, the kubeconfig or the relay is touched, so a typo
 * fails at once with exit code 2. Then a CodeOffer (src/agent/code-offer.ts) offers codes and
 * serves the sessions of whoever pairs, while this module shows both (share-output.ts), until
 * Ctrl-C/SIGTERM/SIGHUP (exit 130/143/129), --once, or the fifth failed pairing.
 */
import * as z from 'zod';
import { AuditLog } from '../audit/audit-log.js';
import { prepareDefaultAuditLogPath } from '../audit/default-path.js';
import { CodeOffer } from '../agent/code-offer.js';
import { parseServiceAccountRef } from '../agent/passthrough-credentials.js';
import { parsePolicyMode } from '../agent/policy/index.js';
import { SHARE_MODES, checkShareSettings } from '../agent/share-config.js';
import { parseExposeSpecs } from '../agent/tcp-targets.js';
import { loadUpstreamCluster } from '../agent/upstream-cluster.js';
import { KubepairError, toKubepairError } from '../errors/index.js';
import { APPROVAL_TIMEOUT_MAX_MS, APPROVAL_TIMEOUT_MIN_MS, DEFAULT_RESUME_WINDOW_MS, RELAY_RESUME_WINDOW_MAX_S, SHARE_SESSION_LIFETIME_MIN_MS, SHARE_SESSION_LIFETIME_MS } from '../limits.js';
import { MAX_TIMER_MS, parseDuration } from '../units.js';
import { flag, parseCommandOptions, relayOptionsShape, repeated } from './command-options.js';
import { relayEndpointFrom, signalOnTermination } from './relay-endpoint-options.js';
import { inertText } from '../terminal/inert-text.js';
import { registerApprovalCommands } from './approval-control.js';
import { ApprovalPrompt } from './approval-prompt.js';
import { ShareOutput } from './share-output.js';
import { registerShareControl } from './share-control.js';
import { ControlServer } from '../control/control-server.js';
import { signalExitCode } from './connect-termination.js';

/** `--max-duration`: at least a minute, at most what a timer can wait (about 24 days). */
function parseMaxDuration(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms < SHARE_SESSION_LIFETIME_MIN_MS) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `--max-duration "${text.slice(0, 40)}" must be a duration of at least 1m, e.g. 30m or 8h`);
  }
  if (ms > MAX_TIMER_MS) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `--max-duration "${text.slice(0, 40)}" must be at most 24d`);
  return ms;
}

/** `--resume-window`: 0 (a dropped link ends the session) or a duration up to 7d (the relay caps it too). */
function parseResumeWindow(text: string): number {
  const ms = text.trim() === '0' ? 0 : parseDuration(text);
  if (ms === undefined) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `--resume-window "${text.slice(0, 40)}" must be a duration such as 10m or 1h, or 0`);
  if (ms > RELAY_RESUME_WINDOW_MAX_S * 1000) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `--resume-window "${text.slice(0, 40)}" must be at most 7d`);
  return ms;
}

/** `--approve-timeout`: a duration from 1s to 1h. */
function parseApproveTimeout(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms < APPROVAL_TIMEOUT_MIN_MS || ms > APPROVAL_TIMEOUT_MAX_MS) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `--approve-timeout "${text.slice(0, 40)}" must be a duration from 1s to 1h, e.g. 30s or 5m`);
  }
  return ms;
}

/** `kubepair share`'s options, as commander hands them over, checked and typed in one pass. */
const ShareOptionsSchema = z.strictObject({
  kubeconfig: z.string().optional(),
  context: z.string().optional(),
  inCluster: flag,
  mode: z.enum(SHARE_MODES),
  policy: z.string().optional().transform((text) => (text === undefined ? undefined : parsePolicyMode(text))),
  allow: repeated,
  deny: repeated,
  approve: flag,
  approveTimeout: z.string().optional().transform((text) => (text === undefined ? undefined : parseApproveTimeout(text))),
  as: z.string().optional(),
  asGroup: repeated,
  expose: repeated.transform(parseExposeSpecs),
  serviceAccount: z.string().optional().transform((text) => (text === undefined ? undefined : parseServiceAccountRef(text))),
  once: flag,
  maxDuration: z.string().optional().transform((text) => (text === undefined ? SHARE_SESSION_LIFETIME_MS : parseMaxDuration(text))),
  resumeWindow: z.string().optional().transform((text) => (text === undefined ? DEFAULT_RESUME_WINDOW_MS : parseResumeWindow(text))),
  auditLog: z.string().optional(),
  auditChain: flag,
  auditFailOpen: flag,
  record: z.enum(['on', 'off']).default('on'),
  recordInput: flag,
  recordingFailOpen: flag,
  passEnv: repeated,
  ...relayOptionsShape,
});

/** Run share; resolves with its exit code: 0 when it ends by itself, 128 + N when signal N stopped it. */
export async function runShare(rawOptions: unknown): Promise<number> {
  const options = parseCommandOptions(ShareOptionsSchema, rawOptions, 'share');
  const { settings } = checkShareSettings({
    mode: options.mode,
    policy: { mode: options.policy, allow: options.allow, deny: options.deny },
    expose: options.expose,
    ...((options.as !== undefined || options.asGroup.length > 0) && { impersonate: { user: options.as, groups: options.asGroup } }),
    serviceAccount: options.serviceAccount,
    once: options.once === true,
    sessionLifetimeMs: options.maxDuration,
    resumeWindowMs: options.resumeWindow,
    auditFailOpen: options.auditFailOpen === true,
    recording: { enabled: options.record === 'on', input: options.recordInput === true, failOpen: options.recordingFailOpen === true },
    approve: options.approve === true,
    ...(options.approveTimeout !== undefined && { approvalTimeoutMs: options.approveTimeout }),
  });
  if (options.approveTimeout !== undefined && !settings.approve) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', '--approve-timeout needs --approve');
  // Who answers held requests: this terminal when standard input and error are one, and
  // always `kubepair approve`/`decline` through the share's control socket; with neither, no
  // one could, so share refuses to start.
  const terminal = settings.approve && process.stdin.isTTY === true && process.stderr.isTTY === true;
  const relay = await relayEndpointFrom(options);
  const upstream = await loadUpstreamCluster({
    ...(options.kubeconfig !== undefined && { kubeconfig: options.kubeconfig }),
    ...(options.context !== undefined && { context: options.context }),
    ...(options.inCluster === true && { inCluster: true }),
    passEnv: options.passEnv,
  });
  const output = new ShareOutput();
  const audit = await AuditLog.open({
    path: options.auditLog ?? (await prepareDefaultAuditLogPath()),
    ...(options.auditChain === true && { chain: true }),
    ...(settings.auditFailOpen && { failOpen: true }),
    onError: (err) => output.auditFailed(err, settings.auditFailOpen),
  });
  // The local control socket (kubepair status, session ..., approve/decline): share works
  // without it, unless it is the only way to answer held requests.
  let control: ControlServer | undefined;
  try {
    control = await ControlServer.listen({ role: 'share' });
  } catch (err) {
    if (settings.approve && !terminal) {
      await audit.close();
      throw new KubepairError('KP_ERR_APPROVE_UNAVAILABLE', `standard input is not a terminal and the control socket cannot be opened (${toKubepairError(err).message})`, { cause: err });
    }
    if (settings.approve) process.stderr.write(`kubepair share: no control socket (${inertText(toKubepairError(err).message)}); answer approvals on this terminal\n`);
    else output.controlUnavailable(toKubepairError(err));
  }
  const { signal, received, dispose } = signalOnTermination();
  let offer: CodeOffer | undefined;
  let prompt: ApprovalPrompt | undefined;
  try {
    offer = new CodeOffer({ ...settings, relay, upstream, audit });
    output.watch(offer);
    if (control !== undefined) registerShareControl(control, offer);
    if (offer.approvals !== undefined && terminal) prompt = new ApprovalPrompt({ queue: offer.approvals, input: process.stdin, output: process.stderr });
    if (offer.approvals !== undefined && control !== undefined) {
      registerApprovalCommands(control, offer.approvals);
      if (!terminal) process.stderr.write(`kubepair share: answer held requests with kubepair approvals / approve ID / decline ID (control socket ${inertText(control.path)})\n`);
    }
    output.sharing({
      context: upstream.contextName,
      cluster: upstream.clusterName,
      server: upstream.server.href,
      mode: settings.mode,
      policy: settings.policy.mode,
      relay: relay.url,
      sessionLifetimeMs: settings.sessionLifetimeMs,
      expose: settings.expose.map((target) => target.name),
      ...(settings.approve && { approvalTimeoutMs: settings.approvalTimeoutMs }),
    });
    if (settings.mode === 'passthrough') {
      process.stderr.write('kubepair share: passthrough mode: the client receives credentials and the agent cannot enforce a policy or see requests\n');
    }
    await offer.start(signal);
    const end = await offer.closed;
    if (end.kind === 'failed') throw end.error;
    const stoppedBy = received();
    return stoppedBy === undefined ? 0 : signalExitCode(stoppedBy);
  } catch (err) {
    // Ctrl-C / SIGTERM / SIGHUP: a normal way to stop sharing, reported as a shell would.
    const stoppedBy = received();
    if (signal.aborted && stoppedBy !== undefined) return signalExitCode(stoppedBy);
    throw err;
  } finally {
    prompt?.close();
    await control?.close();
    await offer?.close();
    output.close();
    dispose();
    await audit.close();
  }
}
