/**
 * Secure-channel benchmark (issue 2): throughput of 64 KiB MUX records between an agent and a
 * client SecureChannel over an in-memory transport pair, the record layer alone (seal + open),
 * and the CPU time of a complete pairing handshake (both sides in this process). Medians of 5
 * runs; results go to docs/performance.md. Run with `npm run bench:channel`.
 */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { HandshakeResult, PairingCode } from '../src/channel/index.js';
import { MemoryTransport, SecureChannel, runAgentHandshake, runClientHandshake } from '../src/channel/index.js';
import { InnerType, RecordOpener, RecordSealer } from '../src/crypto/records.js';
import { describeMachine, formatNumber, summarize, updatePerformanceSection } from './lib/report.js';

const RUNS = 5;
const RECORD_BYTES = 64 * 1024;
const CHANNEL_BYTES = 256 * 1024 * 1024; // per throughput run
const RECORD_LAYER_BYTES = 256 * 1024 * 1024;
const HANDSHAKES_PER_RUN = 40;
const CODE: PairingCode = { nameplate: '1', secret: '12345678' };

async function pair(): Promise<[SecureChannel, SecureChannel]> {
  const [a, c] = MemoryTransport.pair({ highWaterMark: 4 * 1024 * 1024 });
  const sessionId = randomBytes(16);
  const [agent, client]: HandshakeResult[] = await Promise.all([
    runAgentHandshake({ transport: a, code: CODE, sessionId }),
    runClientHandshake({ transport: c, code: CODE, sessionId }),
  ]);
  return [new SecureChannel(agent!), new SecureChannel(client!)];
}

/** MB/s (10^6 bytes per second) from agent mux write to client mux read. */
async function channelThroughput(): Promise<number> {
  const [agent, client] = await pair();
  const chunk = randomBytes(RECORD_BYTES);
  let received = 0;
  const done = new Promise<void>((resolve) => {
    client.mux.on('data', (data: Buffer) => {
      received += data.length;
      if (received >= CHANNEL_BYTES) resolve();
    });
  });
  const start = performance.now();
  let sent = 0;
  while (sent < CHANNEL_BYTES) {
    sent += chunk.length;
    if (!agent.mux.write(chunk)) await new Promise((resolve) => agent.mux.once('drain', resolve));
  }
  await done;
  const seconds = (performance.now() - start) / 1000;
  agent.close();
  client.close();
  return CHANNEL_BYTES / seconds / 1e6;
}

/** MB/s sealing and opening 64 KiB records with no transport at all. */
function recordLayerThroughput(): number {
  const secret = { key: randomBytes(32), iv: randomBytes(12) };
  const sealer = new RecordSealer(secret);
  const opener = new RecordOpener(secret);
  const body = randomBytes(RECORD_BYTES);
  const start = performance.now();
  for (let done = 0; done < RECORD_LAYER_BYTES; done += RECORD_BYTES) opener.open(sealer.seal(InnerType.MUX, body));
  return RECORD_LAYER_BYTES / ((performance.now() - start) / 1000) / 1e6;
}

/** CPU milliseconds (user + system) per complete handshake, both sides, and wall ms. */
async function handshakeCost(): Promise<{ cpuMs: number; wallMs: number }> {
  const cpuBefore = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < HANDSHAKES_PER_RUN; i++) {
    const [agent, client] = await pair();
    agent.close();
    client.close();
  }
  const cpu = process.cpuUsage(cpuBefore);
  return {
    cpuMs: (cpu.user + cpu.system) / 1000 / HANDSHAKES_PER_RUN,
    wallMs: (performance.now() - start) / HANDSHAKES_PER_RUN,
  };
}

async function main(): Promise<void> {
  await channelThroughput(); // warm-up
  const channel: number[] = [];
  const records: number[] = [];
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    channel.push(await channelThroughput());
    records.push(recordLayerThroughput());
    const cost = await handshakeCost();
    cpu.push(cost.cpuMs);
    wall.push(cost.wallMs);
    process.stderr.write(`run ${run + 1}/${RUNS}: channel ${formatNumber(channel.at(-1)!)} MB/s, records ${formatNumber(records.at(-1)!)} MB/s, handshake ${formatNumber(cpu.at(-1)!, 2)} ms CPU\n`);
  }
  const rows: Array<[string, ReturnType<typeof summarize>, string, number]> = [
    ['SecureChannel throughput, 64 KiB records, in-memory transport', summarize(channel), 'MB/s', 1],
    ['record layer alone (seal + open, 64 KiB)', summarize(records), 'MB/s', 1],
    ['pairing handshake, CPU time (agent + client)', summarize(cpu), 'ms', 2],
    ['pairing handshake, wall time (agent + client, one process)', summarize(wall), 'ms', 2],
  ];
  const table = [
    '| measurement | median | min | max | unit |',
    '| --- | ---: | ---: | ---: | --- |',
    ...rows.map(([name, s, unit, digits]) => `| ${name} | ${formatNumber(s.median, digits)} | ${formatNumber(s.min, digits)} | ${formatNumber(s.max, digits)} | ${unit} |`),
  ].join('\n');
  const markdown = `Measured ${new Date().toISOString().slice(0, 10)} on ${describeMachine()}; ${RUNS} runs each.
Throughput moves ${CHANNEL_BYTES / 2 ** 20} MiB per run from the agent's \`mux\` to the client's;
MB/s is 10^6 bytes per second. Handshake figures are per complete pairing, averaged over
${HANDSHAKES_PER_RUN} pairings per run.

${table}`;
  const path = await updatePerformanceSection('channel', markdown);
  process.stdout.write(`${table}\n\nwritten to ${path}\n`);
}

await main();
