/**
 * Workload `resume-bulk` (issue 12, "Measure"): what resumption's bookkeeping costs a bulk
 * transfer. Every record a SecureChannel seals is kept until the peer acknowledges it, and the
 * receiver sends ACK records on its AckSchedule (docs/design.md §8.1, docs/protocol.md §7.1-7.2);
 * none of that can be switched off, so the comparison is between two settings of the same build:
 *
 * - `resume_on`: what `share` and `connect` run — `resumable: true`, the default acknowledgement
 *   schedule (an ACK per CHANNEL_ACK_EVERY_RECORDS records or CHANNEL_ACK_EVERY_BYTES bytes, or
 *   CHANNEL_ACK_DELAY_MS after the first record not yet acknowledged);
 * - `cheapest_acks`: `resumable: false` and acknowledgements as rare as they can be without the
 *   retransmit bound ever throttling the sender (CHEAPEST_ACKS below): an ACK per half the bound.
 *
 * Both are measured side by side, alternating, on two channel pairs in this process paired
 * through a real relay process (agent `mux` → relay → client `mux`, both ends' sealing and
 * opening in this process): the channel layer with nothing on top, so the bookkeeping's share
 * of the cost is larger here than in the whole tunnel, where HTTP/2, the kube proxy and two more
 * TCP hops add to the denominator. The figure is thus an upper bound for `npm run bench`'s
 * bulk path. Headline `bulk_resume_overhead_ratio`: the median over rounds of
 * (cheapest_acks MB/s) / (resume_on MB/s) in the same round (goal <= 1.05).
 */
import type { AcknowledgementOptions, SecureChannelOptions } from '../../src/channel/index.js';
import { CHANNEL_RETRANSMIT_MAX_BYTES } from '../../src/limits.js';
import type { ChannelPairOverRelay, RelayForBench } from '../lib/channel-over-relay.js';
import { pairOverRelay, pushThrough } from '../lib/channel-over-relay.js';
import { measureProcessCost } from '../lib/process-cost.js';
import { formatNumber, summarize } from '../lib/report.js';
import type { WorkloadContext, WorkloadResult } from './workload.js';
import { measurement, medianOf } from './workload.js';

/** Bytes per run and direction of each run (agent → client). */
export const ACK_COST_BYTES = 128 * 1024 * 1024; // 128 MiB
/** Size of each `mux` write: HTTP/2's default largest DATA frame, as the tunnel writes them. */
const WRITE_BYTES = 16 * 1024; // 16 KiB
const RUN_TIMEOUT_MS = 120_000; // 2 MB/s would be a broken channel

/**
 * The cheapest acknowledgement setting: no count trigger, one ACK per half the retransmit
 * bound (so the sender's retained bytes stay below the bound and never stop its writes), and
 * a long idle delay (on a bulk transfer the byte trigger always comes first).
 */
export const CHEAPEST_ACKS: Required<AcknowledgementOptions> = {
  everyRecords: Number.MAX_SAFE_INTEGER,
  everyBytes: CHANNEL_RETRANSMIT_MAX_BYTES / 2,
  delayMs: 1_000,
};

interface Setting {
  readonly name: 'resume_on' | 'cheapest_acks';
  readonly options: SecureChannelOptions;
}

const SETTINGS: readonly Setting[] = [
  { name: 'resume_on', options: { resumable: true } },
  { name: 'cheapest_acks', options: { resumable: false, acks: CHEAPEST_ACKS } },
];

interface RunFigures {
  readonly mbps: number;
  readonly ginstructionsPerGiB: number | undefined;
  readonly cpuSecondsPerGiB: number | undefined;
}

export async function runAckCost(context: WorkloadContext, relay: RelayForBench, pids: readonly number[], options: { bytes?: number } = {}): Promise<WorkloadResult> {
  const bytes = options.bytes ?? ACK_COST_BYTES;
  const pairs = new Map<Setting['name'], ChannelPairOverRelay>();
  try {
    for (const setting of SETTINGS) pairs.set(setting.name, await pairOverRelay(relay, setting.options));
    const once = async (setting: Setting): Promise<RunFigures> => {
      const { result: seconds, cost } = await measureProcessCost(pids, () => pushThrough(pairs.get(setting.name)!, bytes, WRITE_BYTES, RUN_TIMEOUT_MS), { countInstructions: context.countInstructions });
      const gib = bytes / 2 ** 30;
      return {
        mbps: bytes / seconds / 1e6,
        ginstructionsPerGiB: cost.instructions === undefined ? undefined : cost.instructions / 1e9 / gib,
        cpuSecondsPerGiB: cost.cpuSeconds === undefined ? undefined : cost.cpuSeconds / gib,
      };
    };
    const samples = new Map<Setting['name'], RunFigures[]>(SETTINGS.map((setting) => [setting.name, []]));
    const ratios: number[] = [];
    const instructionRatios: number[] = [];
    const cpuRatios: number[] = [];
    for (let round = 0; round <= context.runs; round++) {
      const order = round % 2 === 0 ? SETTINGS : [...SETTINGS].reverse();
      const figures = new Map<Setting['name'], RunFigures>();
      for (const setting of order) figures.set(setting.name, await once(setting));
      const on = figures.get('resume_on')!;
      const cheapest = figures.get('cheapest_acks')!;
      const describe = (f: RunFigures): string => `${formatNumber(f.mbps, 0)} MB/s${f.cpuSecondsPerGiB === undefined ? '' : ` (${formatNumber(f.cpuSecondsPerGiB, 2)} CPU s/GiB)`}`;
      context.log(
        `resume-bulk ${round === 0 ? 'warm-up' : `run ${round}/${context.runs}`}: ` +
          order.map((setting) => `${setting.name} ${describe(figures.get(setting.name)!)}`).join(', ') +
          `; ratio ${formatNumber(cheapest.mbps / on.mbps, 3)}`,
      );
      if (round === 0) continue;
      for (const [name, figure] of figures) samples.get(name)!.push(figure);
      ratios.push(cheapest.mbps / on.mbps);
      if (on.cpuSecondsPerGiB !== undefined && cheapest.cpuSecondsPerGiB !== undefined && cheapest.cpuSecondsPerGiB > 0) cpuRatios.push(on.cpuSecondsPerGiB / cheapest.cpuSecondsPerGiB);
      if (on.ginstructionsPerGiB !== undefined && cheapest.ginstructionsPerGiB !== undefined) instructionRatios.push(on.ginstructionsPerGiB / cheapest.ginstructionsPerGiB);
    }
    const series = (name: Setting['name'], pick: (figures: RunFigures) => number | undefined): Map<string, number[]> => {
      const values = samples.get(name)!.map(pick).filter((value): value is number => value !== undefined);
      return new Map(values.length > 0 ? [['kubepair', values]] : []);
    };
    const size = `${formatNumber(bytes / 2 ** 20, 0)} MiB`;
    const mbpsOn = measurement(
      { id: 'resume_bulk_mbps_resume_on', label: `durable sessions: ${size} through a SecureChannel pair over the relay, resumption on (default ACKs)`, unit: 'MB/s', better: 'higher', digits: 0 },
      series('resume_on', (f) => f.mbps),
    );
    const mbpsCheapest = measurement(
      { id: 'resume_bulk_mbps_cheapest_acks', label: `durable sessions: the same, ACKs in their cheapest setting (resumable off)`, unit: 'MB/s', better: 'higher', digits: 0 },
      series('cheapest_acks', (f) => f.mbps),
    );
    const instructionsOn = measurement(
      { id: 'resume_bulk_ginstructions_per_gib_resume_on', label: 'durable sessions: instructions per GiB, resumption on (bench process + relay, perf)', unit: 'G instr/GiB', better: 'lower', digits: 1 },
      series('resume_on', (f) => f.ginstructionsPerGiB),
    );
    const instructionsCheapest = measurement(
      { id: 'resume_bulk_ginstructions_per_gib_cheapest_acks', label: 'durable sessions: instructions per GiB, cheapest ACKs (perf)', unit: 'G instr/GiB', better: 'lower', digits: 1 },
      series('cheapest_acks', (f) => f.ginstructionsPerGiB),
    );
    const cpuOn = measurement(
      { id: 'resume_bulk_cpu_s_per_gib_resume_on', label: 'durable sessions: CPU per GiB, resumption on (bench process + relay)', unit: 'CPU s/GiB', better: 'lower', digits: 2 },
      series('resume_on', (f) => f.cpuSecondsPerGiB),
    );
    const cpuCheapest = measurement(
      { id: 'resume_bulk_cpu_s_per_gib_cheapest_acks', label: 'durable sessions: CPU per GiB, cheapest ACKs', unit: 'CPU s/GiB', better: 'lower', digits: 2 },
      series('cheapest_acks', (f) => f.cpuSecondsPerGiB),
    );
    const published = [mbpsOn, mbpsCheapest, ...[cpuOn, cpuCheapest, instructionsOn, instructionsCheapest].filter((m) => Object.keys(m.byTunnel).length > 0)];
    return {
      measurements: published,
      headline: {
        bulk_resume_mbps_resume_on: medianOf(mbpsOn, 'kubepair'),
        bulk_resume_mbps_cheapest_acks: medianOf(mbpsCheapest, 'kubepair'),
        bulk_resume_overhead_ratio: ratios.length > 0 ? summarize(ratios).median : null,
        bulk_resume_overhead_cpu_ratio: cpuRatios.length > 0 ? summarize(cpuRatios).median : null,
        bulk_resume_overhead_instructions_ratio: instructionRatios.length > 0 ? summarize(instructionRatios).median : null,
      },
      skipped: [],
      notes: [
        `Durable sessions, bookkeeping: ${size} per run from the agent's \`mux\` to the client's (16 KiB writes) on two SecureChannel pairs in the bench process, ` +
          `paired through a relay process; "resumption on" is what share and connect run, "cheapest ACKs" is \`resumable: false\` with one ACK per ` +
          `${formatNumber(CHEAPEST_ACKS.everyBytes / 2 ** 20, 0)} MiB (half the retransmit bound). Rounds alternate the order; the overhead ratio is the median of the per-round ratios ` +
          `(per-round: ${ratios.map((r) => formatNumber(r, 3)).join(', ')}); the CPU ratio is resume_on's CPU per GiB over cheapest_acks' in the same round ` +
          `(per-round: ${cpuRatios.map((r) => formatNumber(r, 3)).join(', ') || 'not measured'}).`,
      ],
    };
  } finally {
    for (const pair of pairs.values()) pair.close();
  }
}
