/**
 * `kubepair share`: argument parsing for the agent role (src/agent/share.ts). Everything is
 * validated before the relay is contacted, so a typo fails at once with exit code 2.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { AuditLog } from '../audit/audit-log.js';
import { prepareDefaultAuditLogPath } from '../audit/default-path.js';
import { RequestPolicy } from '../agent/policy/index.js';
import { parseServiceAccountRef } from '../agent/passthrough-credentials.js';
import { Share } from '../agent/share.js';
import type { ShareMode } from '../agent/share.js';
import { parseExposeSpecs } from '../agent/tcp-targets.js';
import { loadUpstreamCluster } from '../agent/upstream-cluster.js';
import { KubepairError } from '../errors/index.js';
import { parseDuration } from '../relay/relay-options.js';
import { addRelayOptions, collect, relayEndpointFrom, signalOnTermination } from './relay-endpoint-options.js';
import { ShareOutput } from './share-output.js';

const DEFAULT_SESSION_LIFETIME = '8h';

const EXAMPLES = `
Examples:
  kubepair share                                   share the current kubeconfig context
  kubepair share --context prod --policy readonly  reads only (get, list, watch, logs)
  kubepair share --allow "delete pods team-a/*"    guarded, plus deleting pods in team-a
  kubepair share --expose redis=10.0.0.5:6379      also offer a TCP target named "redis"
  kubepair share --mode passthrough --service-account ops/pair-bot
  KUBEPAIR_RELAY=https://relay.example.com KUBEPAIR_TOKEN=kprt_... kubepair share --once

Policy (proxy mode): readonly = tier 0 (reads, logs); guarded (default) = tiers 0-1 (adds
secrets and tokens), more only where --allow matches; open = everything. --deny always wins.
Every request is audited to --audit-log (JSON lines, 0600); the agent refuses requests it
cannot audit unless --audit-fail-open. Passthrough hands the client credentials (yours, or a
--service-account token limited to the session, and to at least 10 minutes, the shortest
Kubernetes issues) and cannot enforce a policy or impersonate; share checks that the token
can be issued before it shows a code.

Variables whose names contain TOKEN, SECRET, PASSWORD or CREDENTIAL are withheld from exec
credential plugins; --pass-env NAME passes one on purpose.`;

export function registerShareCommand(program: Command): void {
  const share = program
    .command('share')
    .description('share this machine\'s cluster access: shows a pairing code and serves the client that uses it')
    .option('--kubeconfig <file>', 'kubeconfig to use (default: $KUBECONFIG, then ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context (default: the current context)')
    .option('--in-cluster', 'use this pod\'s ServiceAccount instead of a kubeconfig')
    .addOption(new Option('--mode <mode>', 'proxy: requests pass the agent\'s policy and audit; passthrough: raw TLS, the client gets credentials').choices(['proxy', 'passthrough']).default('proxy'))
    .option('--policy <mode>', 'readonly, guarded or open (default: guarded; passthrough: open)')
    .option('--allow <rule>', 'in guarded mode, also allow requests matching RULE, e.g. "delete pods team-a/*" (repeatable)', collect)
    .option('--deny <rule>', 'refuse requests matching RULE in every mode, checked first (repeatable)', collect)
    .option('--as <user>', 'impersonate this narrower identity on every request')
    .option('--as-group <group>', 'impersonate this group too (repeatable; needs --as)', collect)
    .option('--expose <name=host:port>', 'offer a TCP target by name, reachable with connect --forward (repeatable)', collect)
    .option('--service-account <ns/name>', 'passthrough: send a short-lived token of this ServiceAccount instead of your credentials')
    .option('--once', 'exit after the first client\'s session ends (default: offer a fresh code)')
    .option('--max-duration <duration>', `longest a paired session may last, e.g. 30m, 8h (default: ${DEFAULT_SESSION_LIFETIME})`)
    .option('--audit-log <file>', 'audit log, JSON lines (default: $XDG_STATE_HOME/kubepair/audit.jsonl)')
    .option('--audit-chain', 'hash-chain the audit records (verify with: kubepair audit verify FILE)')
    .option('--audit-fail-open', 'keep serving requests when the audit log cannot be written (not recommended)')
    .option('--pass-env <name>', 'pass this environment variable to exec credential plugins although it looks secret (repeatable)', collect)
    .addHelpText('after', EXAMPLES);
  addRelayOptions(share).action(async (options: Record<string, unknown>) => runShare(options));
}

async function runShare(options: Record<string, unknown>): Promise<void> {
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
  const relay = relayEndpointFrom(options);
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
