/**
 * Workload 7, kubectl (issue 6): the real `kubectl get configmaps` listing 2,000 ConfigMaps of
 * the fixture API server, wall time from spawn to exit: direct, through kubepair in proxy mode
 * (TLS to connect's listener, policy and audit on the agent, the agent's own TLS to the API
 * server), in passthrough mode (TLS end to end) and through `ssh -L` and `ssh -J` (TLS end to end). Each
 * path has its own HOME, so kubectl's discovery cache is warm after the untimed first round, as
 * it is for a user. Every run checks that all 2,000 rows came back. A path through a tunnel also
 * reports the CPU its processes spent per kubectl run (relay, share and connect; ssh and the
 * sshds with their children; from the threads' schedstat, as 10 ms ticks are too coarse here),
 * in all and for each process by where it sits (connect, relay, share: issue 15's split of
 * where a run's CPU goes), a figure the machine's load moves far less than wall time: the
 * ratio to direct moves with direct's own time (142-297 ms in the full runs of 2026-12-07,
 * docs/performance.md "kubectl, fourth look").
 */
import { join } from 'node:path';
import { mkdir, readFile } from 'node:fs/promises';
import { kubectlSandbox, runKubectl } from '../../test/helpers/kubectl.js';
import { measureProcessCost } from '../lib/process-cost.js';
import { formatNumber } from '../lib/report.js';
import type { PathSide, Tunnel, TunnelProcess } from '../lib/tunnel.js';
import { PATH_SIDES, tunnelPids } from '../lib/tunnel.js';
import type { Measurement, RunFigures, WorkloadContext, WorkloadResult } from './workload.js';
import { interleavedRuns, measurement, medianOf, sideFigures } from './workload.js';

export const KUBECTL_OBJECTS = 2_000;
const KUBECTL_TIMEOUT_MS = 60_000;
/**
 * kubectl runs this many times the suite's counted runs: a run takes a fifth of a second, and
 * its wall time scatters most of every figure (direct 121-188 ms within one published run, the
 * kubepair/direct ratio 1.01-1.57 between four runs of the same build on one quiet afternoon:
 * docs/performance.md "kubectl get through proxy mode"), so its median needs more samples.
 */
export const KUBECTL_RUNS_FACTOR = 3;

const SIDE_LABELS: Readonly<Record<PathSide, string>> = {
  laptop: 'kubectl get: CPU per run on the laptop side (`connect`; `ssh`)',
  middle: 'kubectl get: CPU per run in the middle (the relay; the bastion\'s sshd of `ssh -J`)',
  target: 'kubectl get: CPU per run next to the target (`share`; the target\'s sshd)',
};

/**
 * One run's log figures: wall time, and the tunnel's CPU in all and by process, e.g.
 * `212 ms (tunnel CPU 61 ms = connect 20 + relay 8 + share 33)`.
 */
export function formatKubectlRun(figures: RunFigures, tunnel: Pick<Tunnel, 'processes'>): string {
  const cpu = figures['cpu_ms'];
  if (cpu === undefined) return `${formatNumber(figures['ms']!, 0)} ms`;
  const parts = PATH_SIDES.filter((side) => figures[`cpu_${side}`] !== undefined).map((side) => {
    const names = tunnel.processes().filter((process) => process.side === side).map((process) => process.name);
    return `${names.join('+')} ${formatNumber(figures[`cpu_${side}`]!, 0)}`;
  });
  return `${formatNumber(figures['ms']!, 0)} ms (tunnel CPU ${formatNumber(cpu, 0)} ms${parts.length > 0 ? ` = ${parts.join(' + ')}` : ''})`;
}

/**
 * Entries in this network namespace's TCP socket tables (TIME_WAIT ones included), or undefined
 * off Linux: connect's owner check reads them, up to its peer's, for each local connection, so a
 * workload that leaves thousands behind makes every kubectl run dearer (docs/performance.md
 * "kubectl, sixth look").
 */
async function socketTableEntries(): Promise<number | undefined> {
  try {
    const tables = await Promise.all(['tcp', 'tcp6'].map((table) => readFile(`/proc/self/net/${table}`, 'latin1')));
    return tables.reduce((sum, text) => sum + Math.max(0, text.split('\n').filter((line) => line.trim() !== '').length - 1), 0);
  } catch {
    return undefined;
  }
}

/** A kubeconfig to run kubectl with, named like the tunnel it goes through. */
export interface KubectlPath {
  readonly name: string;
  readonly label: string;
  readonly kubeconfig: string;
  /** The tunnel's processes, whose CPU per run is reported; none for direct. */
  readonly processes?: () => readonly TunnelProcess[];
}

export async function runKubectlList(context: WorkloadContext, paths: readonly KubectlPath[]): Promise<WorkloadResult> {
  const sandbox = await kubectlSandbox('kubepair-bench-kubectl-');
  try {
    const homes = new Map<string, string>();
    for (const path of paths) {
      const home = join(sandbox.dir, `home-${path.name}`);
      await mkdir(home, { mode: 0o700 });
      homes.set(path.name, home);
    }
    // interleavedRuns wants tunnels; only the name is used here.
    const asTunnels: Tunnel[] = paths.map((path) => ({
      name: path.name,
      label: path.label,
      ports: { source: 0, http: 0, hello: 0 },
      processes: path.processes ?? (() => []),
      close: () => Promise.resolve(),
    }));
    const byName = new Map(paths.map((path) => [path.name, path]));
    const runs = context.runs * KUBECTL_RUNS_FACTOR;
    const sockets = await socketTableEntries();
    if (sockets !== undefined) context.log(`kubectl: ${formatNumber(sockets, 0)} entries in this network namespace's TCP socket tables at the start (connect's owner check reads them, up to its peer's, per connection)`);
    const samples = await interleavedRuns(
      { ...context, runs },
      'kubectl',
      asTunnels,
      async (tunnel) => {
        const path = byName.get(tunnel.name)!;
        const { result: { result, ms }, cost } = await measureProcessCost(
          tunnelPids(tunnel),
          async () => {
            const started = process.hrtime.bigint();
            const result = await runKubectl(['get', 'configmaps'], { kubeconfig: path.kubeconfig, home: homes.get(path.name)!, timeoutMs: KUBECTL_TIMEOUT_MS });
            return { result, ms: Number(process.hrtime.bigint() - started) / 1e6 };
          },
          { precise: true },
        );
        const rows = result.stdout.split('\n').filter((line) => line.startsWith('seed-')).length;
        if (result.code !== 0 || rows !== KUBECTL_OBJECTS) {
          throw new Error(`kubectl through ${path.name}: exit ${result.code}, ${rows} rows; ${result.stderr.slice(0, 500)}`);
        }
        // By side: CPU ms per run of connect, the relay and share (1e-3 runs: seconds to ms).
        return { ms, ...(cost.cpuSeconds === undefined ? {} : { cpu_ms: cost.cpuSeconds * 1000, ...sideFigures(tunnel, cost.cpuSecondsByRoot, 1e-3) }) };
      },
      formatKubectlRun,
    );
    const ms = measurement(
      { id: 'kubectl_get_ms', label: `kubectl get configmaps (${formatNumber(KUBECTL_OBJECTS, 0)} objects)`, unit: 'ms', better: 'lower', digits: 0 },
      samples.get('ms'),
    );
    const cpu = measurement(
      { id: 'kubectl_tunnel_cpu_ms', label: 'kubectl get: CPU of the tunnel processes per run', unit: 'CPU ms', better: 'lower', digits: 0 },
      samples.get('cpu_ms'),
    );
    const bySide = new Map<PathSide, Measurement>(
      PATH_SIDES.map((side) => [side, measurement({ id: `kubectl_tunnel_cpu_ms_${side}_side`, label: SIDE_LABELS[side], unit: 'CPU ms', better: 'lower', digits: 0 }, samples.get(`cpu_${side}`))]),
    );
    const side = (name: PathSide, tunnel: string): number | null => medianOf(bySide.get(name), tunnel);
    const direct = medianOf(ms, 'direct');
    const ratio = (name: string): number | null => {
      const through = medianOf(ms, name);
      return through !== null && direct !== null ? through / direct : null;
    };
    return {
      measurements: [ms, ...[cpu, ...bySide.values()].filter((m) => Object.keys(m.byTunnel).length > 0)],
      headline: {
        kubectl_ms_direct: direct,
        kubectl_ms_kubepair_proxy: medianOf(ms, 'kubepair'),
        kubectl_ms_kubepair_passthrough: medianOf(ms, 'kubepair_passthrough'),
        kubectl_ms_ssh: medianOf(ms, 'ssh'),
        kubectl_ms_ssh_jump: medianOf(ms, 'ssh_jump'),
        kubectl_ratio_proxy_vs_direct: ratio('kubepair'),
        kubectl_ratio_passthrough_vs_direct: ratio('kubepair_passthrough'),
        kubectl_tunnel_cpu_ms_kubepair_proxy: medianOf(cpu, 'kubepair'),
        kubectl_tunnel_cpu_ms_kubepair_passthrough: medianOf(cpu, 'kubepair_passthrough'),
        kubectl_tunnel_cpu_ms_ssh: medianOf(cpu, 'ssh'),
        // Each kubepair process, per mode (issue 15).
        kubectl_tunnel_cpu_ms_connect_proxy: side('laptop', 'kubepair'),
        kubectl_tunnel_cpu_ms_relay_proxy: side('middle', 'kubepair'),
        kubectl_tunnel_cpu_ms_share_proxy: side('target', 'kubepair'),
        kubectl_tunnel_cpu_ms_connect_passthrough: side('laptop', 'kubepair_passthrough'),
        kubectl_tunnel_cpu_ms_relay_passthrough: side('middle', 'kubepair_passthrough'),
        kubectl_tunnel_cpu_ms_share_passthrough: side('target', 'kubepair_passthrough'),
      },
      skipped: [],
      notes: [`kubectl get: ${runs} counted runs per path (${KUBECTL_RUNS_FACTOR}× the suite's), its wall times scatter most.`],
    };
  } finally {
    await sandbox.remove();
  }
}
