/**
 * JavaScript heap allocated per request in each kubepair process (issue 15, docs/performance.md
 * "Added latency, fifth pass"): one relay, `share --expose` and `connect --forward` per build,
 * all up at once; per round and build WARMUP untimed 1 KiB requests of the latency workload, then
 * REQUESTS timed ones between two readings of each process's `total_allocated_bytes` (the
 * preload bench/lib/alloc-probe-preload.ts, on SIGURG). Builds interleaved, order alternating,
 * round 0 dropped from the medians. Allocation is a count, far less noisy than time.
 *
 *   node build/bench/alloc-per-request.js [--rounds N] [--requests N] [REPO_DIR ...]
 *
 * Each REPO_DIR is a checkout built with `npm run build && npx tsc -p tsconfig.test.json`
 * (default: this one); compare two builds by giving both.
 */
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import type * as E2EStackModule from '../test/helpers/e2e-stack.js';
import type { ManagedProcess } from '../test/helpers/managed-process.js';
import type * as NodeFlagsModule from '../src/cli/node-flags.js';
import type * as TunnelModule from './lib/kubepair-tunnel.js';
import type * as LoadModule from './lib/load.js';
import { repoPath } from '../test/helpers/paths.js';

const WARMUP = 1_500;
const TIMEOUT_MS = 120_000;
const PROBE_WAIT_MS = 5_000;
const NAMES = ['connect', 'relay', 'share'] as const;

interface Build {
  readonly dir: string;
  readonly processes: Record<(typeof NAMES)[number], ManagedProcess>;
  readonly port: number;
  readonly client: (port: number) => Promise<{ request(): Promise<void>; close(): void }>;
  readonly close: () => Promise<void>;
  probes: number;
}

async function startBuild(dir: string, targets: { source: number; http: number; hello: number }): Promise<Build> {
  const at = (path: string): string => resolve(dir, 'build', path);
  const { startE2EStack } = (await import(at('test/helpers/e2e-stack.js'))) as typeof E2EStackModule;
  const { startKubepairTunnel, BENCH_RELAY_ARGS } = (await import(at('bench/lib/kubepair-tunnel.js'))) as typeof TunnelModule;
  const { KeepAliveClient } = (await import(at('bench/lib/load.js'))) as typeof LoadModule;
  const { BIN_NODE_FLAGS } = (await import(at('src/cli/node-flags.js'))) as typeof NodeFlagsModule;
  const preload = repoPath('build/bench/lib/alloc-probe-preload.js');
  const stack = await startE2EStack({ relayArgs: BENCH_RELAY_ARGS, nodeArgs: [...BIN_NODE_FLAGS, '--import', preload] });
  const tunnel = await startKubepairTunnel(stack, { mode: 'proxy', targets }).catch(async (err: unknown) => {
    await stack.close();
    throw err;
  });
  return {
    dir,
    processes: { connect: tunnel.connect, relay: stack.relay, share: tunnel.share },
    port: tunnel.ports.http,
    client: (port) => KeepAliveClient.open(port),
    close: async () => {
      await tunnel.close();
      await stack.close();
    },
    probes: 0,
  };
}

/** Each process's total_allocated_bytes now (one SIGURG each). */
async function probe(build: Build): Promise<Record<string, number>> {
  build.probes += 1;
  const pattern = new RegExp(`^kubepair-alloc-probe ${build.probes} (\\d+)$`, 'm');
  const out: Record<string, number> = {};
  for (const name of NAMES) {
    const process = build.processes[name];
    process.child.kill('SIGURG');
    out[name] = Number((await process.waitFor(pattern, PROBE_WAIT_MS, 'stderr'))[1]);
  }
  return out;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, requests: { type: 'string', default: '5000' } }, allowPositionals: true });
  const rounds = Number(values.rounds);
  const requests = Number(values.requests);
  if (!Number.isInteger(rounds) || rounds < 1 || !Number.isInteger(requests) || requests < 100) throw new Error('--rounds must be at least 1 and --requests at least 100');
  const dirs = positionals.length > 0 ? positionals.map((p) => resolve(p)) : [repoPath('.')];
  const { startProcess } = await import('../test/helpers/managed-process.js');
  const target = startProcess(process.execPath, [repoPath('build/bench/target-server.js')], { PATH: process.env['PATH'] ?? '' });
  const builds: Build[] = [];
  try {
    const targets = JSON.parse((await target.waitFor(/^(\{.*\})$/m, 30_000, 'stdout'))[1]!) as { source: number; http: number; hello: number };
    for (const dir of dirs) builds.push(await startBuild(dir, targets));
    const results = builds.map(() => [] as Array<Record<string, number>>);
    for (let round = 0; round < rounds; round++) {
      const order = builds.map((_, i) => (round % 2 === 0 ? i : builds.length - 1 - i));
      for (const i of order) {
        const build = builds[i]!;
        const client = await build.client(build.port);
        try {
          const deadline = Date.now() + TIMEOUT_MS;
          for (let k = 0; k < WARMUP; k++) await client.request();
          const before = await probe(build);
          const latencies: number[] = [];
          for (let k = 0; k < requests && Date.now() < deadline; k++) {
            const started = process.hrtime.bigint();
            await client.request();
            latencies.push(Number(process.hrtime.bigint() - started) / 1e3);
          }
          if (latencies.length < requests) throw new Error(`${build.dir}: ${requests} requests took over ${TIMEOUT_MS} ms`);
          const after = await probe(build);
          latencies.sort((a, b) => a - b);
          const row: Record<string, number> = { p50: latencies[Math.floor(requests * 0.5)]!, p99: latencies[Math.floor(requests * 0.99)]!, load: loadavg()[0]! };
          for (const name of NAMES) row[name] = (after[name]! - before[name]!) / requests;
          results[i]!.push(row);
          console.log(`${build.dir} round ${round}: ${Object.entries(row).map(([k, v]) => `${k} ${v.toFixed(k === 'load' ? 1 : 0)}`).join(', ')}`);
        } finally {
          client.close();
        }
      }
    }
    for (const [i, build] of builds.entries()) {
      const kept = results[i]!.slice(rounds > 1 ? 1 : 0);
      const figures = ['connect', 'relay', 'share', 'p50', 'p99'].map((k) => `${k} ${median(kept.map((r) => r[k]!)).toFixed(0)}`);
      console.log(`median ${build.dir}: bytes allocated per request ${figures.slice(0, 3).join(', ')}; µs ${figures.slice(3).join(', ')}`);
    }
  } finally {
    for (const build of builds) await build.close().catch((err: unknown) => console.error(`clean-up: ${(err as Error).message}`));
    await target.stop('SIGTERM', 3000);
  }
}

main().catch((err: unknown) => {
  console.error(`alloc-per-request: ${(err as Error).message}`);
  process.exitCode = 1;
});
