/**
 * `npm run bench` (issue 6): kubepair side by side with a direct connection and with OpenSSH
 * `ssh -N -L`, and (issue 15) `ssh -J` through a bastion sshd (the fair comparison for a relay:
 * two encrypted hops, the middle relaying ciphertext), in one run on one machine, loopback only. Workloads (bench/workloads/): bulk,
 * latency, concurrency, head-of-line, pairing, relay sessions, kubectl; and for durable
 * sessions (issue 12) resume (time to flow again after a cut or a relay restart) and
 * resume-bulk (the acknowledgement bookkeeping's cost); for the relay cluster (issue 13) cluster
 * (sessions per second on one node vs three, remote vs local splices, memory per idle session per
 * node); for start-up (issue 15) size (what `npm install -g` of the package takes), and pairing
 * compares the CLI's builds. Each figure is the median of 5 counted runs (after a warm-up round)
 * with min and max; paths are interleaved. Bulk and latency also run kubepair with the relay
 * serving TLS (`kubepair_tls_relay`, a second relay with its own certificate), as in production.
 *
 * Writes bench/results/<date>.json and bench/results/latest.json (headline numbers at the top
 * level), docs/performance-suite.svg, the `bench:suite` section of docs/performance.md and the
 * sections of workloads that have their own (`bench:cluster`). Partial runs (see --help) print
 * their results and write nothing unless asked to; with --write, a partial run's numbers are
 * merged into latest.json (suite-report.ts mergePublished), its own results go to
 * bench/results/partial/, and only the sections of its own workloads are rewritten.
 * What cannot run (no sshd, no kubectl, no redis-server or haproxy) is skipped and said so, in the
 * output and the report.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { cpus, loadavg, platform, release } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { BIN_NODE_FLAGS } from '../src/cli/node-flags.js';
import type { E2EStack } from '../test/helpers/e2e-stack.js';
import { startE2EStack } from '../test/helpers/e2e-stack.js';
import { KUBECTL } from '../test/helpers/kubectl.js';
import type { ManagedProcess } from '../test/helpers/managed-process.js';
import { startProcess } from '../test/helpers/managed-process.js';
import { repoPath } from '../test/helpers/paths.js';
import { startRelay } from '../test/helpers/relay-process.js';
import { BENCH_RELAY_ARGS, startKubepairTunnel } from './lib/kubepair-tunnel.js';
import { perfUnavailableReason } from './lib/process-cost.js';
import type { KubepairTunnel } from './lib/kubepair-tunnel.js';
import { updatePerformanceSection } from './lib/report.js';
import type { SshBastion, SshServer, SshTools, SshTunnel } from './lib/ssh-tunnel.js';
import { SSH_CIPHER_AES_GCM, SSH_CIPHER_DEFAULT, findSshTools, startSshBastion, startSshJumpTunnel, startSshServer, startSshTunnel } from './lib/ssh-tunnel.js';
import type { SuiteOptions, WorkloadName } from './lib/suite-options.js';
import { USAGE, UsageError, parseSuiteOptions } from './lib/suite-options.js';
import type { MachineInfo, SuiteResults } from './lib/suite-report.js';
import { chartSpec, evaluateGoals, mergePublished, renderMarkdown, renderSection } from './lib/suite-report.js';
import { renderChart } from './lib/svg-chart.js';
import type { TargetPorts, Tunnel } from './lib/tunnel.js';
import { directTunnel } from './lib/tunnel.js';
import { runBulk } from './workloads/bulk.js';
import { runConcurrency } from './workloads/concurrency.js';
import { runHeadOfLine } from './workloads/head-of-line.js';
import { KUBECTL_OBJECTS, runKubectlList } from './workloads/kubectl.js';
import type { KubectlPath } from './workloads/kubectl.js';
import { runLatency } from './workloads/latency.js';
import { runInstalledSize } from './workloads/installed-size.js';
import { runPairing } from './workloads/pairing.js';
import { runRelaySessions } from './workloads/relay-sessions.js';
import { RELAY_START_TIMEOUT_MS, runResumeLatency } from './workloads/resume-latency.js';
import { runAckCost } from './workloads/ack-cost.js';
import { runCluster } from './workloads/cluster.js';
import type { RelaySetup } from './lib/relay-setups.js';
import { startClusterSetup, startSingleRelay } from './lib/relay-setups.js';
import type { Measurement, Skip, WorkloadContext, WorkloadResult } from './workloads/workload.js';

const CHART_FILE = 'docs/performance-suite.svg';
const TARGET_READY_TIMEOUT_MS = 10_000;

/** scripts/bundle.mjs (the package's dist/cli/), in ms. */
const BUNDLE_TIMEOUT_MS = 300_000;

function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

function toolVersion(command: string, args: readonly string[], pattern: RegExp): string | null {
  // ssh -V prints on stderr; kubectl on stdout. A missing tool gives an error and no output.
  const result = spawnSync(command, [...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 10_000 });
  if (result.error !== undefined || result.status !== 0) return null;
  return pattern.exec(`${result.stdout}\n${result.stderr}`)?.[1] ?? null;
}

function describeMachine(ssh: SshTools | undefined, kubectl: string | null): MachineInfo {
  const list = cpus();
  return {
    cpu: list[0]?.model.trim() ?? 'unknown CPU',
    cores: list.length,
    node: process.version,
    os: `${platform()} ${release()}`,
    ssh: ssh === undefined ? null : toolVersion(ssh.ssh, ['-V'], /(OpenSSH_[^\s,]+)/),
    kubectl,
  };
}

interface TargetProcess {
  readonly ports: TargetPorts;
  readonly process: ManagedProcess;
}

async function startTargets(): Promise<TargetProcess> {
  const target = startProcess(process.execPath, [repoPath('build/bench/target-server.js')], { PATH: process.env['PATH'] ?? '' });
  const line = await target.waitFor(/^(\{.*\})$/m, TARGET_READY_TIMEOUT_MS, 'stdout');
  return { ports: JSON.parse(line[1]!) as TargetPorts, process: target };
}

/** Everything started for the run; closed in reverse order at the end. */
class Resources {
  readonly #closers: Array<() => Promise<void>> = [];

  add(close: () => Promise<void>): void {
    this.#closers.push(close);
  }

  async closeAll(): Promise<void> {
    for (const close of this.#closers.reverse()) {
      await close().catch((err: unknown) => log(`clean-up failed: ${(err as Error).message}`));
    }
  }
}

async function writeAtomically(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, text);
  await rename(temporary, path);
}

async function main(options: SuiteOptions): Promise<number> {
  const started = Date.now();
  const loadStart = loadavg();
  const wants = (name: WorkloadName): boolean => options.workloads.includes(name);
  const skipped: Skip[] = [];
  const notes: string[] = [];
  const perWorkloadLoad: Record<string, number> = {};

  let sshTools: SshTools | undefined;
  if (!options.ssh) {
    skipped.push({ what: 'OpenSSH comparison', why: '--no-ssh' });
  } else {
    const found = findSshTools();
    if ('missing' in found) skipped.push({ what: 'OpenSSH comparison', why: `${found.missing}; apt-get install openssh-server openssh-client` });
    else sshTools = found.tools;
  }
  const kubectlVersion = toolVersion(KUBECTL, ['version', '--client'], /Client Version: (\S+)/);
  if (wants('kubectl') && kubectlVersion === null) skipped.push({ what: 'kubectl workload', why: `${KUBECTL} not found or not runnable; apt-get install kubernetes-client` });
  const redisVersion = toolVersion('redis-server', ['--version'], /v=(\S+)/);
  const haproxyVersion = toolVersion('haproxy', ['-v'], /version (\S+)/);
  const clusterMissing = [redisVersion === null ? 'redis-server' : undefined, haproxyVersion === null ? 'haproxy' : undefined].filter((name) => name !== undefined);
  if (wants('cluster') && clusterMissing.length > 0) {
    skipped.push({ what: 'cluster workload', why: `${clusterMissing.join(' and ')} not found or not runnable; apt-get install redis-server haproxy (/usr/sbin on PATH)` });
  }
  for (const skip of skipped) log(`SKIPPING ${skip.what}: ${skip.why}`);

  const machine = describeMachine(sshTools, kubectlVersion);
  log(`${machine.cpu} (${machine.cores} cores), Node ${machine.node}; load average ${loadStart.map((v) => v.toFixed(2)).join(' ')}`);
  log(`workloads: ${options.workloads.join(', ')}; ${options.runs} runs each${options.partial ? ' (partial run)' : ''}`);

  const perfMissing = options.instructions ? perfUnavailableReason() : 'off (--no-instructions)';
  if (perfMissing !== undefined) {
    skipped.push({ what: 'instruction counts', why: perfMissing });
    log(`SKIPPING instruction counts: ${perfMissing}`);
  }
  const context: WorkloadContext = { runs: options.runs, countInstructions: perfMissing === undefined, log };
  const results: WorkloadResult[] = [];
  const resources = new Resources();
  let failed = false;
  try {
    if (wants('pairing')) {
      // The pairing workload runs the package's bundle beside tsc's build: build it from this checkout.
      const bundled = spawnSync(process.execPath, [repoPath('scripts/bundle.mjs')], { encoding: 'utf8', timeout: BUNDLE_TIMEOUT_MS });
      if (bundled.status !== 0) throw new Error(`scripts/bundle.mjs failed: ${bundled.error?.message ?? bundled.stderr}`);
    }
    const targets = await startTargets();
    resources.add(async () => void (await targets.process.stop('SIGTERM', 3000)));
    const needsStack = options.workloads.some((name) => name !== 'relay' && name !== 'resume-bulk' && name !== 'cluster' && name !== 'size');
    let stack: E2EStack | undefined;
    if (needsStack) {
      if (options.profileDir !== undefined) await mkdir(options.profileDir, { recursive: true });
      stack = await startE2EStack({
        api: { seedConfigMaps: { count: KUBECTL_OBJECTS } },
        relayArgs: BENCH_RELAY_ARGS,
        // The flags the installed binary's shebang gives node (src/cli/node-flags.ts): the processes run as shipped.
        nodeArgs: [...BIN_NODE_FLAGS, ...(options.profileDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`] : [])],
      });
      resources.add(() => stack!.close());
    }
    // The same kubepair path with the relay serving TLS (https://, as in production), for bulk
    // and latency: a second stack, its relay with the tests' loopback certificate
    // (test/fixtures/relay-tls), share and connect given --relay-ca for it. Its profiles go to
    // DIR/tls-relay.
    let tlsStack: E2EStack | undefined;
    if (wants('bulk') || wants('latency')) {
      const tlsProfileDir = options.profileDir === undefined ? undefined : join(options.profileDir, 'tls-relay');
      if (tlsProfileDir !== undefined) await mkdir(tlsProfileDir, { recursive: true });
      tlsStack = await startE2EStack({
        relayTls: true,
        relayArgs: BENCH_RELAY_ARGS,
        // As the installed binary runs, like the http:// stack above.
        nodeArgs: [...BIN_NODE_FLAGS, ...(tlsProfileDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${tlsProfileDir}`] : [])],
      });
      resources.add(() => tlsStack!.close());
    }
    let sshServer: SshServer | undefined;
    let bastion: SshBastion | undefined;
    if (sshTools !== undefined && (wants('bulk') || wants('latency') || wants('concurrency') || wants('hol') || wants('pairing') || wants('kubectl'))) {
      sshServer = await startSshServer(sshTools);
      resources.add(() => sshServer!.close());
      try {
        bastion = await startSshBastion(sshServer, SSH_CIPHER_AES_GCM);
        resources.add(() => bastion!.close());
      } catch (err) {
        const why = (err as Error).message.split('\n')[0] ?? 'unknown';
        skipped.push({ what: 'OpenSSH bastion (ssh -J) comparison', why: `the bastion's sshd did not start: ${why}` });
        log(`SKIPPING the ssh -J path: the bastion's sshd did not start: ${(err as Error).message}`);
      }
    }

    const tcpWorkloads = (['bulk', 'latency', 'concurrency', 'hol'] as const).filter(wants);
    const tunnels: Tunnel[] = [directTunnel(targets.ports)];
    let kubepair: KubepairTunnel | undefined;
    let ssh: SshTunnel | undefined;
    let sshJump: SshTunnel | undefined;
    if (stack !== undefined && (tcpWorkloads.length > 0 || wants('kubectl'))) {
      kubepair = await startKubepairTunnel(stack, { mode: 'proxy', targets: targets.ports });
      resources.add(() => kubepair!.close());
      tunnels.push(kubepair);
    }
    let kubepairTls: KubepairTunnel | undefined;
    if (tlsStack !== undefined) {
      kubepairTls = await startKubepairTunnel(tlsStack, { mode: 'proxy', targets: targets.ports });
      resources.add(() => kubepairTls!.close());
    }
    /** bulk and latency also run the TLS relay's path. */
    const withTlsRelay = (list: readonly Tunnel[]): Tunnel[] => (kubepairTls === undefined ? [...list] : [...list, kubepairTls]);
    if (sshServer !== undefined && stack !== undefined && (tcpWorkloads.length > 0 || wants('kubectl'))) {
      ssh = await startSshTunnel(sshServer, targets.ports, SSH_CIPHER_AES_GCM, new Map([['kube', stack.api.port]]));
      resources.add(() => ssh!.close());
      tunnels.push(ssh);
      if (bastion !== undefined) {
        try {
          sshJump = await startSshJumpTunnel(bastion, targets.ports, new Map([['kube', stack.api.port]]));
          resources.add(() => sshJump!.close());
          tunnels.push(sshJump);
        } catch (err) {
          skipped.push({ what: 'OpenSSH bastion (ssh -J) comparison', why: `ssh -J did not come up: ${(err as Error).message.split('\n')[0] ?? 'unknown'}` });
          log(`SKIPPING the ssh -J path: ${(err as Error).message}`);
        }
      }
    }

    const runWorkload = async (name: WorkloadName, body: () => Promise<WorkloadResult>): Promise<void> => {
      if (!wants(name)) return;
      perWorkloadLoad[name] = loadavg()[0] ?? 0;
      log(`--- ${name} (load average ${perWorkloadLoad[name].toFixed(2)})`);
      try {
        results.push(await body());
      } catch (err) {
        failed = true;
        log(`${name} FAILED: ${(err as Error).stack ?? String(err)}`);
        skipped.push({ what: `${name} workload`, why: `FAILED: ${(err as Error).message.split('\n')[0]}` });
      }
    };

    await runWorkload('bulk', async () => {
      const bulkTunnels = withTlsRelay(tunnels);
      let chacha: Tunnel | undefined;
      if (sshServer !== undefined) {
        chacha = await startSshTunnel(sshServer, targets.ports, SSH_CIPHER_DEFAULT);
        bulkTunnels.push(chacha);
      }
      try {
        return await runBulk(context, bulkTunnels, { bytes: options.bulkMiB * 1024 * 1024 });
      } finally {
        await chacha?.close();
      }
    });
    await runWorkload('latency', () => runLatency(context, withTlsRelay(tunnels)));
    await runWorkload('concurrency', () => runConcurrency(context, tunnels));
    await runWorkload('hol', () => runHeadOfLine(context, tunnels));
    await runWorkload('pairing', () => runPairing(context, stack!, targets.ports.hello, sshServer, bastion, options.compareCli));
    await runWorkload('relay', () => runRelaySessions(context));
    if (kubectlVersion !== null && stack !== undefined) {
      const api = stack.api;
      await runWorkload('kubectl', async () => {
        const passthrough = await startKubepairTunnel(stack, { mode: 'passthrough' });
        try {
          const home = join(stack.dir, 'bench-kubeconfigs');
          await mkdir(home, { recursive: true, mode: 0o700 });
          const write = async (name: string, text: string): Promise<string> => {
            const path = join(home, `${name}.kubeconfig`);
            await writeFile(path, text, { mode: 0o600 });
            return path;
          };
          const paths: KubectlPath[] = [
            { name: 'direct', label: 'direct', kubeconfig: await write('direct', api.kubeconfigFor()) },
            { name: 'kubepair', label: 'kubepair proxy mode', kubeconfig: kubepair!.kubeconfig, processes: () => kubepair!.processes() },
            { name: 'kubepair_passthrough', label: 'kubepair passthrough mode', kubeconfig: passthrough.kubeconfig, processes: () => passthrough.processes() },
            ...(ssh !== undefined
              ? [{ name: 'ssh', label: 'ssh -L', kubeconfig: await write('ssh', api.kubeconfigFor({ server: `https://127.0.0.1:${ssh.extraPorts.get('kube')}` })), processes: () => ssh.processes() }]
              : []),
            ...(sshJump !== undefined
              ? [{ name: 'ssh_jump', label: 'ssh -J', kubeconfig: await write('ssh_jump', api.kubeconfigFor({ server: `https://127.0.0.1:${sshJump.extraPorts.get('kube')}` })), processes: () => sshJump.processes() }]
              : []),
          ];
          return await runKubectlList(context, paths);
        } finally {
          await passthrough.close();
        }
      });
    }
    await runWorkload('size', () => runInstalledSize(context));
    await runWorkload('resume', () => runResumeLatency(context, stack!, targets.ports.http));
    await runWorkload('resume-bulk', async () => {
      const relay = await startRelay({ args: BENCH_RELAY_ARGS, logLevel: 'warn', timeoutMs: RELAY_START_TIMEOUT_MS });
      try {
        // This process seals and opens both directions; the relay forwards: count both.
        return await runAckCost(context, relay, [process.pid]);
      } finally {
        await relay.dispose();
      }
    });
    if (clusterMissing.length === 0) {
      await runWorkload('cluster', async () => {
        log(`cluster: redis-server ${redisVersion}, HAProxy ${haproxyVersion}`);
        const setups: RelaySetup[] = [];
        try {
          setups.push(await startSingleRelay(), await startClusterSetup(1), await startClusterSetup(3));
          return await runCluster(context, setups);
        } finally {
          for (const setup of setups.reverse()) await setup.close().catch((err: unknown) => log(`clean-up failed: ${(err as Error).message}`));
        }
      });
    }
  } finally {
    await resources.closeAll();
  }

  const measurements: Measurement[] = results.flatMap((result) => result.measurements);
  const tableResults = results.filter((result) => result.section === undefined);
  const headline: Record<string, number | null> = Object.assign({}, ...results.map((result) => result.headline)) as Record<string, number | null>;
  for (const result of results) {
    skipped.push(...result.skipped);
    notes.push(...result.notes);
  }
  const tableNotes = tableResults.flatMap((result) => result.notes);
  const date = new Date().toISOString();
  const suite: SuiteResults = {
    schema: 'kubepair-bench/1',
    date,
    machine,
    runs: options.runs,
    partial: options.partial,
    duration_s: (Date.now() - started) / 1000,
    load_average: { start: loadStart, end: loadavg(), per_workload: perWorkloadLoad },
    headline,
    goals: evaluateGoals(headline),
    measurements,
    skipped,
    notes,
  };
  // Headline numbers also at the top level (issue 6: latest.json has them as top-level keys).
  const json = `${JSON.stringify({ ...headline, ...suite }, null, 2)}\n`;
  // The suite's table leaves out the workloads with their own section.
  const tableSuite: SuiteResults = { ...suite, measurements: tableResults.flatMap((result) => result.measurements), notes: tableNotes };
  const sections = results.flatMap((result) => (result.section === undefined ? [] : [{ name: result.section.name, title: result.section.title, markdown: renderSection(suite, result.section.name, result.measurements, result.notes, result.section.pathLabels) }]));
  if (tableSuite.measurements.length > 0) process.stdout.write(renderMarkdown(tableSuite, CHART_FILE.replace('docs/', '')) + '\n');
  for (const section of sections) process.stdout.write(`\n## ${section.title}\n\n${section.markdown}\n`);
  if (options.jsonPath !== undefined) await writeAtomically(options.jsonPath, json);
  if (options.write && !failed && !options.partial) {
    const dated = repoPath(`bench/results/${date.slice(0, 10)}.json`);
    await writeAtomically(dated, json);
    await writeAtomically(repoPath('bench/results/latest.json'), json);
    await writeAtomically(repoPath(CHART_FILE), renderChart(chartSpec(tableSuite)));
    const doc = await updatePerformanceSection('suite', renderMarkdown(tableSuite, relative(repoPath('docs'), repoPath(CHART_FILE))));
    for (const section of sections) await updatePerformanceSection(section.name, section.markdown);
    log(`wrote ${relative(repoPath('.'), dated)}, bench/results/latest.json, ${CHART_FILE}, ${relative(repoPath('.'), doc)}`);
  } else if (options.write && !failed) {
    const own = repoPath(`bench/results/partial/${date.slice(0, 10)}-${options.workloads.join('-')}.json`);
    await writeAtomically(own, json);
    const latest = repoPath('bench/results/latest.json');
    const previous = await readFile(latest, 'utf8').then((text) => JSON.parse(text) as Record<string, unknown>, (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw err;
    });
    await writeAtomically(latest, `${JSON.stringify(mergePublished(previous, suite, options.workloads), null, 2)}\n`);
    for (const section of sections) await updatePerformanceSection(section.name, section.markdown);
    log(`partial run: wrote ${relative(repoPath('.'), own)}, merged its numbers into bench/results/latest.json` +
      `${sections.length > 0 ? `, rewrote the ${sections.map((section) => section.name).join(', ')} section of docs/performance.md` : ''}; the suite table and chart were left as they were`);
  } else if (options.write) {
    log('a workload failed: bench/results and docs/performance.md were left as they were');
  } else {
    log('partial run: bench/results and docs/performance.md were left as they were (--write to publish)');
  }
  return failed ? 1 : 0;
}

let parsed: SuiteOptions | 'help';
try {
  parsed = parseSuiteOptions(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`bench: ${err.message}\n\n${USAGE}\n`);
  process.exit(2);
}
if (parsed === 'help') {
  process.stdout.write(`${USAGE}\n`);
} else {
  process.exitCode = await main(parsed);
}
