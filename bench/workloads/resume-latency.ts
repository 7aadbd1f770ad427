/**
 * Workload `resume` (issue 12, "Measure"; docs/design.md §8.1): how soon bytes flow again once
 * the relay answers again. Real processes: a relay with a state directory (test/helpers/
 * relay-process.ts, restartable on the same port), `kubepair share --expose http=...` connected
 * to it directly, and `kubepair connect --forward` connected through a fault proxy
 * (test/helpers/fault-proxy.ts). A steady stream of HTTP/1.1 keep-alive requests (one in flight,
 * one every STREAM_PACE_MS) runs through the tunnel to the target's HTTP server; each case breaks
 * the path, then mends it at a moment T0, and the figure is T0 to the first answer that arrives
 * after it (the request in flight during the outage, retransmitted or held, completing):
 *
 * - `brief cut`: the client's carrier reset (RST both ways); the proxy keeps accepting, so T0 is
 *   the cut and the figure is the reconnect and the resume exchange alone;
 * - `outage`: the client's carrier reset and the proxy's port closed (ECONNREFUSED) for
 *   OUTAGE_MS, then opened again (T0): the reconnect backoff (RECONNECT_* in src/limits.ts)
 *   decides when the next attempt comes;
 * - `relay restart`: the relay killed with SIGKILL and started again on the same port with the
 *   same --state-dir; T0 is its "listening" line. Both endpoints must reconnect (the client's
 *   proxy refuses connections while the relay is down, as the relay's own port does).
 *
 * One warm-up repetition per case, then `runs` counted ones; median and p90 (nearest rank).
 */
import { performance } from 'node:perf_hooks';
import type { E2EStack } from '../../test/helpers/e2e-stack.js';
import type { FaultProxy } from '../../test/helpers/fault-proxy.js';
import { startFaultProxy } from '../../test/helpers/fault-proxy.js';
import type { ManagedProcess } from '../../test/helpers/managed-process.js';
import type { StartedRelay } from '../../test/helpers/relay-process.js';
import { startRelay, within } from '../../test/helpers/relay-process.js';
import { BENCH_RELAY_ARGS, shareAuditLogArgs } from '../lib/kubepair-tunnel.js';
import { KeepAliveClient, quantile } from '../lib/load.js';
import { formatNumber } from '../lib/report.js';
import { freePort } from '../lib/tunnel.js';
import type { Measurement, WorkloadContext, WorkloadResult } from './workload.js';
import { measurement } from './workload.js';

/** One request of the steady stream at most this often. */
const STREAM_PACE_MS = 10;
/** How long the client's relay stays unreachable in the `outage` case. */
export const OUTAGE_MS = 5_000;
/** Longest wait for bytes to flow again after T0 (the resume window is 10 min; this is a broken link). */
const FLOW_AGAIN_TIMEOUT_MS = 30_000;
/** Answers the stream must complete after a case before the next one starts. */
const SETTLE_ANSWERS = 20;
const READY_TIMEOUT_MS = 30_000;
/** From starting a relay to its "listening" line (a loaded machine took over 15 s). */
export const RELAY_START_TIMEOUT_MS = 60_000;

/** Requests one after another through the tunnel; the time each answer completed. */
class SteadyStream {
  readonly #client: KeepAliveClient;
  readonly #answers: number[] = [];
  #waiters: Array<{ from: number; resolve: (at: number) => void }> = [];
  #stopped = false;
  readonly done: Promise<void>;

  private constructor(client: KeepAliveClient) {
    this.#client = client;
    this.done = this.#run();
    this.done.catch(() => undefined); // a failed request is reported through answerAfter
  }

  static async start(port: number): Promise<SteadyStream> {
    return new SteadyStream(await KeepAliveClient.open(port));
  }

  get answers(): number {
    return this.#answers.length;
  }

  /** performance.now() of the first answer completed after `count` answers. */
  answerAfter(count: number, what: string): Promise<number> {
    if (this.#answers.length > count) return Promise.resolve(this.#answers[count]!);
    return within(FLOW_AGAIN_TIMEOUT_MS, what, Promise.race([new Promise<number>((resolve) => this.#waiters.push({ from: count, resolve })), this.done.then(() => Promise.reject(new Error('the request stream ended')))]));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#client.close();
    await this.done.catch(() => undefined);
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const sent = performance.now();
      await this.#client.request();
      const at = performance.now();
      this.#answers.push(at);
      const index = this.#answers.length - 1;
      this.#waiters = this.#waiters.filter((waiter) => {
        if (index < waiter.from) return true;
        waiter.resolve(this.#answers[waiter.from]!);
        return false;
      });
      const rest = STREAM_PACE_MS - (at - sent);
      if (rest > 0) await new Promise((resolve) => setTimeout(resolve, rest));
    }
  }
}

interface Tunnel {
  relay: StartedRelay;
  readonly proxy: FaultProxy;
  readonly share: ManagedProcess;
  readonly connect: ManagedProcess;
  readonly httpPort: number;
}

async function startTunnel(stack: E2EStack, httpTarget: number): Promise<Tunnel> {
  const relay = await startRelay({ args: BENCH_RELAY_ARGS, logLevel: 'warn', timeoutMs: RELAY_START_TIMEOUT_MS });
  let proxy: FaultProxy | undefined;
  let share: ManagedProcess | undefined;
  try {
    proxy = await startFaultProxy({ port: relay.port });
    const offered = await stack.startShare(['--once', ...shareAuditLogArgs(stack), '--expose', `http=127.0.0.1:${httpTarget}`], { KUBEPAIR_RELAY: relay.url, KUBEPAIR_TOKEN: relay.tokens.agent });
    share = offered.process;
    const httpPort = await freePort();
    const connect = stack.startConnect(['--forward', `${httpPort}:http`, '--no-shell', offered.code], {
      KUBEPAIR_RELAY: `http://127.0.0.1:${proxy.port}`,
      KUBEPAIR_TOKEN: relay.tokens.client,
    });
    await connect.waitFor(/^export KUBECONFIG=/m, READY_TIMEOUT_MS, 'stdout');
    return { relay, proxy, share, connect, httpPort };
  } catch (err) {
    await share?.stop('SIGTERM', 3000).catch(() => undefined);
    await proxy?.close();
    await relay.dispose();
    throw err;
  }
}

async function closeTunnel(tunnel: Tunnel): Promise<void> {
  await tunnel.connect.stop('SIGTERM', 5000).catch(() => undefined);
  await tunnel.share.stop('SIGTERM', 5000).catch(() => undefined);
  await tunnel.proxy.close();
  await tunnel.relay.dispose();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

interface Case {
  readonly id: 'brief_cut' | 'outage' | 'relay_restart';
  readonly label: string;
  /** Break the path, mend it, and return T0 (performance.now() when it was mended). */
  breakAndMend(tunnel: Tunnel): Promise<number>;
}

const CASES: readonly Case[] = [
  {
    id: 'brief_cut',
    label: "client's carrier reset, the relay reachable at once: cut to first answer",
    async breakAndMend(tunnel) {
      const at = performance.now();
      await tunnel.proxy.cut();
      return at;
    },
  },
  {
    id: 'outage',
    label: `client's carrier reset, relay unreachable (ECONNREFUSED) for ${OUTAGE_MS / 1000} s: reachable again to first answer`,
    async breakAndMend(tunnel) {
      await tunnel.proxy.refuseNew(true, 'unlisten');
      await tunnel.proxy.cut();
      await sleep(OUTAGE_MS);
      const at = performance.now();
      await tunnel.proxy.refuseNew(false);
      return at;
    },
  },
  {
    id: 'relay_restart',
    label: 'relay SIGKILLed and started again (same port, same --state-dir): its "listening" line to first answer',
    async breakAndMend(tunnel) {
      // The client's proxy stands in for the wire: while nothing listens on the relay's port it
      // refuses too, as a direct connection would be (otherwise it would accept and reset).
      await tunnel.proxy.refuseNew(true, 'unlisten');
      await tunnel.relay.stop('SIGKILL');
      await tunnel.proxy.cut();
      tunnel.relay = await startRelay({ args: BENCH_RELAY_ARGS, logLevel: 'warn', timeoutMs: RELAY_START_TIMEOUT_MS, restartOf: tunnel.relay });
      const at = performance.now();
      await tunnel.proxy.refuseNew(false);
      return at;
    },
  },
];

export async function runResumeLatency(context: WorkloadContext, stack: E2EStack, httpTarget: number): Promise<WorkloadResult> {
  const tunnel = await startTunnel(stack, httpTarget);
  const samples = new Map<Case['id'], number[]>();
  try {
    const stream = await SteadyStream.start(tunnel.httpPort);
    try {
      await stream.answerAfter(SETTLE_ANSWERS, 'the request stream to run');
      for (const kind of CASES) {
        const values: number[] = [];
        for (let rep = 0; rep <= context.runs; rep++) {
          const before = stream.answers;
          const mended = await kind.breakAndMend(tunnel);
          // Answers completed while the path was broken (none, unless the cut missed the carrier)
          // are not "flowing again": count from the first one after T0.
          let index = before;
          while (index < stream.answers && (await stream.answerAfter(index, 'an answer')) < mended) index++;
          const flowing = await stream.answerAfter(index, `the first answer after the ${kind.id.replace('_', ' ')}`);
          const ms = flowing - mended;
          if (rep > 0) values.push(ms);
          context.log(`resume ${kind.id} ${rep === 0 ? 'warm-up' : `run ${rep}/${context.runs}`}: ${formatNumber(ms, 0)} ms`);
          await stream.answerAfter(stream.answers + SETTLE_ANSWERS, 'the stream to settle');
        }
        samples.set(kind.id, values);
      }
    } finally {
      await stream.stop();
    }
  } finally {
    await closeTunnel(tunnel);
  }
  const measurements: Measurement[] = CASES.map((kind) =>
    measurement({ id: `resume_${kind.id}_ms`, label: `durable sessions: ${kind.label}`, unit: 'ms', better: 'lower', digits: 0 }, new Map([['kubepair', samples.get(kind.id)!]])),
  );
  const p = (id: Case['id'], q: number): number | null => {
    const values = samples.get(id) ?? [];
    return values.length === 0 ? null : quantile(values, q);
  };
  return {
    measurements,
    headline: {
      resume_to_first_byte_ms_p50: p('outage', 0.5),
      resume_to_first_byte_ms_p90: p('outage', 0.9),
      resume_to_first_byte_brief_cut_ms_p50: p('brief_cut', 0.5),
      resume_to_first_byte_brief_cut_ms_p90: p('brief_cut', 0.9),
      resume_to_first_byte_relay_restart_ms_p50: p('relay_restart', 0.5),
      resume_to_first_byte_relay_restart_ms_p90: p('relay_restart', 0.9),
    },
    skipped: [],
    notes: [
      `Durable sessions, time to flow again: a steady stream of 1 KiB HTTP requests (one in flight, at most one per ${STREAM_PACE_MS} ms) through connect --forward → relay → share --expose; ` +
        `each case is broken and mended ${context.runs} times after one warm-up (p50/p90 in latest.json). Samples, ms: ` +
        CASES.map((kind) => `${kind.id} ${samples.get(kind.id)!.map((v) => formatNumber(v, 0)).join(', ')}`).join('; ') +
        '.',
    ],
  };
}
