/**
 * `npm run demo`: kubepair's main job on an embedded default, narrated. It starts, on
 * 127.0.0.1 only: a relay with token authentication, the test Kubernetes API server, `kubepair
 * share` (policy "guarded", hash-chained audit log), and `kubepair connect --no-shell` with the
 * code share printed. Then it runs real kubectl commands through the tunnel, including one the
 * policy refuses, verifies the audit log, and cleans everything up.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { runKubepair } from '../test/helpers/cli.js';
import { startE2EStack } from '../test/helpers/e2e-stack.js';
import type { E2EStack } from '../test/helpers/e2e-stack.js';
import { kubectlSandbox, runKubectl } from '../test/helpers/kubectl.js';
import type { KubectlOptions } from '../test/helpers/kubectl.js';

const bold = (text: string): string => (process.stdout.isTTY ? `\u001b[1m${text}\u001b[0m` : text);
const say = (text: string): void => void process.stdout.write(`\n${bold('==>')} ${text}\n`);
const show = (text: string): void => void process.stdout.write(text.replace(/\n+$/, '').replace(/^/gm, '    ') + '\n');

async function kubectl(args: string[], options: KubectlOptions): Promise<void> {
  process.stdout.write(`    $ kubectl ${args.join(' ')}\n`);
  const result = await runKubectl(args, options);
  if (result.stdout !== '') show(result.stdout);
  if (result.stderr !== '') show(result.stderr);
}

async function main(): Promise<number> {
  if (spawnSync('kubectl', ['version', '--client'], { stdio: 'ignore' }).status !== 0) {
    process.stderr.write('demo: kubectl is not installed (Debian: apt-get install kubernetes-client)\n');
    return 1;
  }
  say('Starting a relay (tokens required), a test Kubernetes API server, and the agent');
  let stack: E2EStack | undefined;
  const home = await kubectlSandbox('kubepair-demo-home-');
  try {
    stack = await startE2EStack({
      api: {
        objects: [
          { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-0', namespace: 'default' }, spec: { containers: [{ name: 'web', image: 'nginx' }] } },
          { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings', namespace: 'default' }, data: { mode: 'demo' } },
        ],
      },
    });
    show(`relay:      ${stack.relayUrl}\nAPI server: ${stack.api.url} (certificate for "kubernetes" only)`);
    const auditLog = join(stack.dir, 'state', 'kubepair', 'demo-audit.jsonl');
    const share = await stack.startShare(['--once', '--audit-log', auditLog, '--audit-chain']);
    say(`The agent shows the pairing code: ${bold(share.code)}`);
    show('Only the digits after the nameplate are secret; the relay never sees them (CPace).');

    say(`On the laptop: kubepair connect --no-shell ${share.code}`);
    const connect = stack.startConnect(['--no-shell', share.code]);
    const exported = await connect.waitFor(/export KUBECONFIG=(\S+)/, 20_000, 'stdout');
    show(connect.stderr().trimEnd());
    const options: KubectlOptions = { kubeconfig: exported[1]!, home: home.dir };

    say('kubectl now talks to https://127.0.0.1 — TLS with a per-session CA, a bearer token, then end-to-end encryption through the relay');
    await kubectl(['get', 'pods'], options);
    await kubectl(['get', 'configmap', 'settings', '-o', 'jsonpath={.data.mode}{"\\n"}'], options);
    await kubectl(['get', 'secrets'], options);

    say('The sharer chose policy "guarded": deleting is tier 3 and needs an explicit --allow');
    await kubectl(['delete', 'pod', 'web-0'], options);

    say('Ending the session: connect removes its kubeconfig, share exits (--once)');
    await connect.stop('SIGTERM');
    await share.process.exited;
    show(`kubeconfigs left behind: ${(await stack.kubeconfigsLeft()).length}`);
    show(share.process.stderr().trimEnd());

    say(`Every request was audited; the hash chain verifies: kubepair audit verify ${auditLog}`);
    const verify = await runKubepair(['audit', 'verify', auditLog]);
    show((verify.stdout + verify.stderr).trimEnd());
    say('Done. Try it by hand: node dist/cli/main.js --help (see README.md)');
    return verify.code === 0 ? 0 : 1;
  } finally {
    await stack?.close();
    await home.remove();
  }
}

process.exitCode = await main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  return 1;
});
