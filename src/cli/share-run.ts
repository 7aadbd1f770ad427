/**
 * Running `kubepair share`: everything is validated before the relay is contacted, so a typo
 * fails at once with exit code 2; then the agent role (src/agent/share.ts) runs until
 * Ctrl-C/SIGTERM/SIGHUP, --once, or the fifth failed pairing.
 */
import { AuditLog } from '../audit/audit-log.js';
import { prepareDefaultAuditLogPath } from '../audit/default-path.js';
import { RequestPolicy } from '../agent/policy/index.js';
import { parseServiceAccountRef } from '../agent/passthrough-credentials.js';
import { Share } from '../agent/share.js';
import type { ShareMode } from '../agent/share.js';
import { parseExposeSpecs } from '../agent/tcp-targets.js';
import { loadUpstreamCluster } from '../agent/upstream-cluster.js';
import { KubepairError } from '../errors/index.js';
import { parseDuration } from '../units.js';
import { relayEndpointFrom, signalOnTermination } from './relay-endpoint-options.js';
import { DEFAULT_SESSION_LIFETIME } from './share-command.js';
import { ShareOutput } from './share-output.js';

export async function runShare(options: Record<string, unknown>): Promise<void> {
  const mode = options['mode'] as ShareMode;
  const allow = (options['allow'] as string[] | undefined) ?? [];
  const deny = (options['deny'] as string[] | undefined) ?? [];
  const explicitPolicy = options['policy'] as string | undefined;
  if (mode === 'passthrough' && (explicitPolicy !== undefined && explicitPolicy !== 'open' || allow.length > 0 || deny.length > 0)) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', 'passthrough mode cannot enforce --policy, --allow or --deny (TLS goes end to end); use --mode proxy');
  }
  if (mode === 'proxy' && options['serviceAccount'] !== undefined) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', '--service-account applies to --mode passthrough only');
  }
  const asGroups = (options['asGroup'] as string[] | undefined) ?? [];
  if (mode === 'passthrough' && (options['as'] !== undefined || asGroups.length > 0)) {
    // The client would get the agent's credentials without the impersonation: a wider identity than asked for.
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', 'passthrough mode cannot impersonate (--as, --as-group); use --service-account NS/NAME for a narrower identity, or --mode proxy');
  }
  if (asGroups.length > 0 && options['as'] === undefined) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', '--as-group needs --as');
  const policy = RequestPolicy.create({ mode: mode === 'passthrough' ? 'open' : (explicitPolicy ?? 'guarded'), allow, deny });
  const expose = parseExposeSpecs((options['expose'] as string[] | undefined) ?? []);
  const lifetimeText = (options['maxDuration'] as string | undefined) ?? DEFAULT_SESSION_LIFETIME;
  const sessionLifetimeMs = parseDuration(lifetimeText);
  if (sessionLifetimeMs === undefined || sessionLifetimeMs < 60_000) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `--max-duration "${lifetimeText}" must be a duration of at least 1m, e.g. 30m or 8h`);
  }
  const relay = await relayEndpointFrom(options);
  const serviceAccount = options['serviceAccount'] === undefined ? undefined : parseServiceAccountRef(options['serviceAccount'] as string);
  const upstream = await loadUpstreamCluster({
    ...(options['kubeconfig'] !== undefined && { kubeconfig: options['kubeconfig'] as string }),
    ...(options['context'] !== undefined && { context: options['context'] as string }),
    ...(options['inCluster'] === true && { inCluster: true }),
    passEnv: (options['passEnv'] as string[] | undefined) ?? [],
  });
  const auditFailOpen = options['auditFailOpen'] === true;
  const output = new ShareOutput();
  const audit = await AuditLog.open({
    path: (options['auditLog'] as string | undefined) ?? (await prepareDefaultAuditLogPath()),
    ...(options['auditChain'] === true && { chain: true }),
    ...(auditFailOpen && { failOpen: true }),
    onError: (err) => output.auditFailed(err, auditFailOpen),
  });
  const { signal, dispose } = signalOnTermination();
  if (mode === 'passthrough') {
    process.stderr.write('kubepair share: passthrough mode: the client receives credentials and the agent cannot enforce a policy or see requests\n');
  }
  try {
    await new Share(
      {
        relay,
        upstream,
        mode,
        policy,
        expose,
        audit,
        ...(auditFailOpen && { auditFailOpen: true }),
        ...(options['as'] !== undefined && { impersonate: { user: options['as'] as string, groups: asGroups } }),
        ...(serviceAccount !== undefined && { serviceAccount }),
        once: options['once'] === true,
        sessionLifetimeMs,
      },
      output,
    ).start(signal);
  } catch (err) {
    if (signal.aborted) return; // Ctrl-C / SIGTERM: a normal way to stop sharing
    throw err;
  } finally {
    output.close();
    dispose();
    await audit.close();
  }
}
