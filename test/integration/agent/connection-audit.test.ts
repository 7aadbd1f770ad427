/**
 * The agent's audit gate on the mux (src/agent/connection-audit.ts, docs/audit.md "In the
 * agent") through the real data path in one process: a real hash-chained AuditLog on disk,
 * ConnectionAudit as the MuxServer's gate, tcpTargetHandler to a real TCP target, the secure
 * channel pair, MuxClient, and the client's LocalListener (plain, and TLS + token as in proxy
 * mode).
 *
 * How the log is broken: as in audit-through-tunnel.test.ts, through a rotation that cannot
 * happen — the file is over `maxBytes`, so the next append rotates, and rotating must unlink
 * `PATH.<keep>`, a directory (EISDIR, for root too). Removing the directory heals it.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, rmdir } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ConnectionAudit } from '../../../src/agent/connection-audit.js';
import { tcpTargetHandler } from '../../../src/agent/tcp-targets.js';
import { AuditLog } from '../../../src/audit/audit-log.js';
import type { AuditLogOptions } from '../../../src/audit/audit-log.js';
import { verifyAuditFiles } from '../../../src/audit/verify.js';
import { LocalListener } from '../../../src/client/local-listener.js';
import type { OpeningStream } from '../../../src/client/local-listener.js';
import type { KubepairError } from '../../../src/errors/index.js';
import { AUDIT_ROTATE_MIN_BYTES } from '../../../src/limits.js';
import { MuxClient, MuxServer } from '../../../src/mux/index.js';
import { CertificateAuthority } from '../../../src/tls/index.js';
import { pairedChannels, within } from '../../helpers/channel-pair.js';
import type { CountingTarget } from '../../helpers/counting-target.js';
import { startCountingTarget } from '../../helpers/counting-target.js';
import { tunnelRequest } from '../../helpers/tunnel-request.js';
import { waitUntil } from '../../helpers/wait-until.js';
import { exchangeTcp } from '../../helpers/tcp.js';
import { readAuditRecords } from '../../helpers/audit-records.js';

const WAIT_MS = 10_000;
const KEEP = 10;
const REFUSAL = 'the agent cannot write its audit log, so it refuses new connections (fail closed)';


/** What came back for `payload`, as text (bounded by WAIT_MS). */
async function exchange(port: number, payload: string): Promise<string> {
  return (await exchangeTcp(port, payload, WAIT_MS)).toString('utf8');
}

interface Tunnel {
  readonly target: CountingTarget;
  readonly plainPort: number;
  readonly tokenPort: number;
  readonly token: string;
  readonly caPem: string;
  /** Errors the listeners reported for connections whose stream could not be opened. */
  readonly refusals: KubepairError[];
  /** Accepted connections that did not find their opened record in the log. */
  readonly violations: string[];
  close(): Promise<void>;
}

/** Agent (gate + TCP targets) ⇄ channel pair ⇄ client (listeners), all for real. */
async function startTunnel(log: AuditLog, failOpen: boolean): Promise<Tunnel> {
  const violations: string[] = [];
  const target = await startCountingTarget({
    onAccept: (count) => {
      const opened = readAuditRecords(log.path).filter((r) => r['event'] === 'connection_opened').length;
      if (opened < count) violations.push(`connection ${count} accepted with ${opened} opened records in the log`);
    },
  });
  const { agent, client } = await within(pairedChannels(), WAIT_MS, 'pairing');
  const handler = tcpTargetHandler({ name: 'cache', host: '127.0.0.1', port: target.port });
  const server = new MuxServer(agent, {
    targets: new Map([
      ['cache', handler],
      ['kube-apiserver', handler],
    ]),
    gate: new ConnectionAudit({ audit: log, failOpen, session: 'test-session', client: 'test-client' }),
  });
  const mux = new MuxClient(client);
  const beginStream = (name: string): Promise<OpeningStream> => Promise.resolve(mux.beginStream(name));
  const ca = await CertificateAuthority.create({ commonName: 'kubepair session CA' });
  const leaf = await ca.issueServerCertificate({ ipAddresses: ['127.0.0.1'] });
  const token = randomBytes(32).toString('base64url');
  const plain = new LocalListener({ security: { kind: 'plain' }, target: 'cache', beginStream });
  const withToken = new LocalListener({ security: { kind: 'tls-token', certPem: leaf.certPem, keyPem: leaf.keyPem, token }, target: 'kube-apiserver', beginStream });
  const refusals: KubepairError[] = [];
  for (const listener of [plain, withToken]) {
    listener.on('streamError', (error, phase) => {
      if (phase === 'open') refusals.push(error);
    });
  }
  const plainPort = await plain.listen();
  const tokenPort = await withToken.listen();
  return {
    target,
    plainPort,
    tokenPort,
    token,
    caPem: ca.certPem,
    refusals,
    violations,
    async close() {
      await plain.close();
      await withToken.close();
      mux.close();
      server.close();
      agent.close();
      client.close();
      await target.close();
    },
  };
}

describe('Security: every tunnel stream is recorded before it is served, or refused (fail closed)', { timeout: 120_000 }, () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubepair-connection-audit-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** A chained log that opens fine and fails every write until `heal` removes the blocker. */
  async function brokenLog(name: string, options: Partial<AuditLogOptions> = {}): Promise<{ log: AuditLog; heal: () => Promise<void> }> {
    const path = join(dir, name, 'audit.jsonl');
    const seed = await AuditLog.open({ path, chain: true });
    await seed.append({ event: 'padding', detail: 'p'.repeat(2 * AUDIT_ROTATE_MIN_BYTES) });
    await seed.close();
    const blocker = `${path}.${KEEP}`;
    await mkdir(blocker);
    const log = await AuditLog.open({ path, chain: true, maxBytes: AUDIT_ROTATE_MIN_BYTES, keep: KEEP, ...options });
    return { log, heal: () => rmdir(blocker) };
  }

  it('a healthy log: each connection\'s opened record is on disk when the target accepts it, and its closed record counts its bytes', async () => {
    const log = await AuditLog.open({ path: join(dir, 'healthy', 'audit.jsonl'), chain: true });
    const tunnel = await startTunnel(log, false);
    try {
      const payloads = Array.from({ length: 6 }, (_, i) => `payload ${i} `.repeat(i + 1));
      const echoed = await Promise.all(payloads.map((payload) => exchange(tunnel.plainPort, payload)));
      assert.deepEqual(echoed, payloads);
      await waitUntil(() => readAuditRecords(log.path).filter((r) => r['event'] === 'connection_closed').length === payloads.length, WAIT_MS, 'every closed record');
      assert.deepEqual(tunnel.violations, []);
      assert.equal(tunnel.target.accepted(), payloads.length);
      const records = readAuditRecords(log.path);
      for (const closed of records.filter((r) => r['event'] === 'connection_closed')) {
        const openedAt = records.findIndex((r) => r['event'] === 'connection_opened' && r['stream'] === closed['stream']);
        assert.ok(openedAt >= 0 && openedAt < records.indexOf(closed), `stream ${String(closed['stream'])}: opened before closed`);
        assert.deepEqual(
          { session: closed['session'], client: closed['client'], target: closed['target'], bytes: closed['bytes_in'] === closed['bytes_out'] },
          { session: 'test-session', client: 'test-client', target: 'cache', bytes: true },
        );
        assert.ok(payloads.some((p) => Buffer.byteLength(p) === closed['bytes_in']), `stream ${String(closed['stream'])}: bytes_in is one payload`);
        assert.ok(Number.isInteger(closed['duration_ms']), 'duration_ms');
      }
    } finally {
      await tunnel.close();
      await log.close();
    }
    assert.ok((await verifyAuditFiles([log.path])).ok);
  });

  it('a broken log: every new stream is refused before anything is dialled, the client is told why, and the first stream after the log heals is served', async () => {
    const { log, heal } = await brokenLog('broken');
    const tunnel = await startTunnel(log, false);
    try {
      assert.equal(await exchange(tunnel.plainPort, 'refused'), '', 'a plain connection is closed without a byte');
      const answered = await tunnelRequest({ port: tunnel.tokenPort, caPem: tunnel.caPem, token: tunnel.token, method: 'GET', path: '/api' });
      assert.deepEqual(
        { status: answered.status, type: answered.headers['content-type'], body: answered.body.toString('utf8') },
        { status: 500, type: 'text/plain; charset=utf-8', body: `kubepair: ${REFUSAL}` },
        'proxy mode: kubectl gets the reason',
      );
      assert.equal(tunnel.target.accepted(), 0, 'nothing was dialled');
      assert.deepEqual(
        tunnel.refusals.map((error) => [error.code, error.message]),
        [
          ['KP_ERR_MUX_AUDIT_UNAVAILABLE', REFUSAL],
          ['KP_ERR_MUX_AUDIT_UNAVAILABLE', REFUSAL],
        ],
      );
      assert.ok(log.errorCount >= 2, 'each refusal was a failed write');
      assert.ok(!readAuditRecords(log.path).some((r) => String(r['event']).startsWith('connection_')), 'nothing was recorded');

      await heal();
      assert.equal(await exchange(tunnel.plainPort, 'healed'), 'healed', 'the first stream after healing is served');
      assert.equal(tunnel.target.accepted(), 1);
      await waitUntil(() => readAuditRecords(log.path).some((r) => r['event'] === 'connection_closed'), WAIT_MS, 'the closed record');
      assert.deepEqual(tunnel.violations, []);
    } finally {
      await tunnel.close();
      await log.close();
    }
    const rotated = (await readdir(dirname(log.path))).map((name) => /^audit\.jsonl\.(\d+)$/.exec(name)?.[1]).filter((n) => n !== undefined).map(Number);
    const pieces = [...rotated.sort((a, b) => b - a).map((n) => `${log.path}.${n}`), log.path];
    const verified = await verifyAuditFiles(pieces);
    assert.ok(verified.ok, `the chain runs across the failure: ${JSON.stringify(verified)}`);
  });

  it('--audit-fail-open: streams are served while their records are lost, and the losses are counted', async () => {
    const { log } = await brokenLog('open', { failOpen: true });
    const tunnel = await startTunnel(log, true);
    try {
      assert.equal(await exchange(tunnel.plainPort, 'served anyway'), 'served anyway');
      assert.equal(tunnel.target.accepted(), 1);
      assert.deepEqual(tunnel.refusals, []);
      await waitUntil(() => log.errorCount >= 2, WAIT_MS, 'the opened and closed records to fail');
    } finally {
      await tunnel.close();
      await log.close();
    }
  });
});
