/**
 * `kubepair share`: the command's options and help. The work (validation, the agent role) is in
 * share-run.ts, loaded only when the command runs, so other commands start fast.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { APPROVAL_TIMEOUT_MS, DEFAULT_RESUME_WINDOW_MS, SHARE_SESSION_LIFETIME_MS } from '../limits.js';
import { formatDuration } from '../units.js';
import { collect } from './command-options.js';
import { addRelayOptions } from './relay-endpoint-options.js';


const EXAMPLES = `
Examples:
  kubepair share                                   share the current kubeconfig context
  kubepair share --context prod --policy readonly  reads only (get, list, watch, logs)
  kubepair share --allow "delete pods team-a/*"    guarded, plus deleting pods in team-a
  kubepair share --approve                         guarded, and ask me about anything else
  kubepair share --expose redis=10.0.0.5:6379      also offer a TCP target named "redis"
  kubepair share --mode passthrough --service-account ops/pair-bot
  KUBEPAIR_RELAY=https://relay.example.com KUBEPAIR_TOKEN=kprt_... kubepair share --once

Policy (proxy mode): readonly = tier 0 (reads, logs); guarded (default) = tiers 0-1 (adds
secrets and tokens), more only where --allow matches; open = everything. --deny always wins.
With --approve (guarded only), a request guarded refuses for its tier (not one --deny refuses)
waits for your answer: y approve once, s approve for this session (adds the --allow rule
shown), n decline, N decline all waiting; unanswered it is declined after --approve-timeout.
Without a terminal, answer with kubepair approvals / approve ID / decline ID.
Every connection and request is audited to --audit-log (JSON lines, 0600, one share per
file); the agent refuses connections and requests it cannot audit unless --audit-fail-open.
Passthrough hands the client credentials (yours, or a --service-account token limited to the
session, and to at least 10 minutes, the shortest Kubernetes issues) and cannot enforce a
policy or impersonate; share checks that the token can be issued before it shows a code.

Variables whose names contain TOKEN, SECRET, PASSWORD or CREDENTIAL are withheld from exec
credential plugins; --pass-env NAME passes one on purpose.

Exit codes: 0 when share ends by itself (--once), 1 a failure, 2 bad input, 128 + N when
signal N stops it (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP). The table: docs/exit-codes.md.`;

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
    .option('--approve', 'in guarded mode, ask me (this terminal, or kubepair approve/decline) before refusing a request for its tier')
    .option('--approve-timeout <duration>', `how long a request waits for my answer before it is declined, e.g. 30s, 5m (default: ${formatDuration(APPROVAL_TIMEOUT_MS)})`)
    .option('--as <user>', 'impersonate this narrower identity on every request')
    .option('--as-group <group>', 'impersonate this group too (repeatable; needs --as)', collect)
    .option('--expose <name=host:port>', 'offer a TCP target by name, reachable with connect --forward (repeatable)', collect)
    .option('--service-account <ns/name>', 'passthrough: send a short-lived token of this ServiceAccount instead of your credentials')
    .option('--once', 'exit after the first client\'s session ends (default: offer a fresh code)')
    .option('--max-duration <duration>', `longest a paired session may last, e.g. 30m, 8h (default: ${formatDuration(SHARE_SESSION_LIFETIME_MS)})`)
    .option('--resume-window <duration>', `how long a paired session survives a dropped link while both sides reconnect, e.g. 30m; 0: a drop ends it (default: ${formatDuration(DEFAULT_RESUME_WINDOW_MS)})`)
    .option('--audit-log <file>', 'audit log, JSON lines (default: $XDG_STATE_HOME/kubepair/audit.jsonl)')
    .option('--audit-chain', 'hash-chain the audit records (verify with: kubepair audit verify FILE)')
    .option('--audit-fail-open', 'keep serving connections and requests when the audit log cannot be written (not recommended)')
    .addOption(new Option('--record <on|off>', 'record exec, attach and debug sessions (asciicast v2) in a recordings directory next to the audit log').choices(['on', 'off']).default('on'))
    .option('--record-input', 'record what the client types too (redacted), not only what its terminal shows')
    .option('--recording-fail-open', 'serve exec and attach sessions unrecorded when their recording cannot be written (not recommended)')
    .option('--pass-env <name>', 'pass this environment variable to exec credential plugins although it looks secret (repeatable)', collect)
    .addHelpText('after', EXAMPLES);
  addRelayOptions(share).action(async (options: unknown) => {
    const { runShare } = await import('./share-run.js');
    process.exitCode = await runShare(options);
  });
}

