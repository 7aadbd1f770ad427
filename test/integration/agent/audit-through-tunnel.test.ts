/**
 * The agent's audit trail (docs/design.md §6, docs/audit.md) through the whole in-process data path
 * with the real kubectl and a real hash-chained AuditLog on disk: the fields of the record for
 * a plain GET, a watch, an exec and a refusal; response_sha256 against the bytes the client
 * actually received; the chain verified by the compiled `kubepair audit verify`; and the agent
 * failing closed (or, with --audit-fail-open, serving on) when the log cannot be written.
 *
 * How the log is broken: tests run as root, which ignores file modes, so the log is made to
 * fail after it opened through a rotation that cannot happen — with `keep: 1` rotating must
 * first unlink `PATH.1`, and a directory there cannot be unlinked by anyone (EISDIR).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AuditLog } from '../../../src/audit/audit-log.js';
import type { AuditLogOptions } from '../../../src/audit/audit-log.js';
import type { RequestAuditRecord } from '../../../src/audit/record.js';
import { redactValue } from '../../../src/audit/redact.js';
import type { KubepairError } from '../../../src/errors/index.js';
import { AUDIT_ROTATE_MIN_BYTES } from '../../../src/limits.js';
import type { JsonObject } from '../../fixtures/kube-api-server/objects.js';
import type { KubeApiServer } from '../../fixtures/kube-api-server/server.js';
import { startKubeApiServer } from '../../fixtures/kube-api-server/server.js';
import { runKubepair } from '../../helpers/cli.js';
import type { InProcessTunnel } from '../../helpers/in-process-tunnel.js';
import { startInProcessTunnel } from '../../helpers/in-process-tunnel.js';
import { runKubectl, startKubectl } from '../../helpers/kubectl.js';
import { WEBSOCKET_EXEC_HEADERS, tunnelRequest } from '../../helpers/tunnel-request.js';
import { waitUntil } from '../../helpers/wait-until.js';

const RECORD_TIMEOUT_MS = 10_000;
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const SECRET_ARGUMENT = 'hunter2-must-not-be-audited';

function sha256(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

const OBJECTS: JsonObject[] = [
  { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web', namespace: 'default' }, spec: { containers: [{ name: 'app', image: 'busybox' }] } },
  { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'audited', namespace: 'default' }, data: { colour: 'blue' } },
  { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'keep', namespace: 'default' }, data: { colour: 'green' } },
];

/** Records written after position `from` of `tunnel.records`. */
function recordAfter(tunnel: InProcessTunnel, from: number, predicate: (record: RequestAuditRecord) => boolean): Promise<RequestAuditRecord> {
  return tunnel.waitForRecord((record) => tunnel.records.indexOf(record) >= from && predicate(record), RECORD_TIMEOUT_MS);
}

/** The fields every request record has, with their types. */
function assertCommonFields(record: RequestAuditRecord, id: string): void {
  assert.equal(record.event, 'request', `${id}: event`);
  assert.match(record.time ?? '', ISO_TIME, `${id}: time`);
  assert.equal(record.session, 'test-session', `${id}: session`);
  assert.equal(record.client, 'test-client', `${id}: client`);
  assert.match(record.request_id, /^[0-9a-f]{6}-\d+$/, `${id}: request_id`);
  assert.match(record.response_sha256, /^[0-9a-f]{64}$/, `${id}: response_sha256`);
  assert.ok(Number.isInteger(record.duration_ms) && record.duration_ms >= 0, `${id}: duration_ms ${record.duration_ms}`);
  assert.ok(Number.isInteger(record.bytes_in) && record.bytes_in >= 0, `${id}: bytes_in`);
  assert.ok(Number.isInteger(record.bytes_out) && record.bytes_out >= 0, `${id}: bytes_out`);
}

/**
 * A raw WebSocket exec through the listener: everything the client receives after the 101
 * response head, until the server closes. Answers nothing (the fixture closes after the exit status).
 */
function rawExec(tunnel: InProcessTunnel, path: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port: tunnel.listenerPort,
      path,
      ca: tunnel.caPem,
      agent: false,
      headers: { authorization: `Bearer ${tunnel.token}`, ...WEBSOCKET_EXEC_HEADERS },
    });
    const timer = setTimeout(() => req.destroy(new Error('the exec did not end within 10 s')), 10_000);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.on('response', (res) => {
      clearTimeout(timer);
      res.resume();
      reject(new Error(`the exec was not upgraded: ${res.statusCode}`));
    });
    req.on('upgrade', (res, socket, head) => {
      const chunks: Buffer[] = [head];
      socket.on('data', (chunk: Buffer) => chunks.push(chunk));
      socket.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.on('close', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) });
      });
      socket.on('end', () => socket.end());
    });
    req.end();
  });
}

describe('audit records through the in-process tunnel, real kubectl', { timeout: 180_000 }, () => {
  let dir = '';
  let api: KubeApiServer;
  let audit: AuditLog;
  let tunnel: InProcessTunnel;
  let logPath = '';
  let closed = false;
  /** Close the tunnel (it waits for outstanding audit writes) and the log; once. */
  async function closeTunnelAndLog(): Promise<void> {
    if (closed) return;
    closed = true;
    await tunnel.close();
    await audit.close();
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubepair-audit-tunnel-'));
    logPath = join(dir, 'state', 'audit.jsonl');
    api = await startKubeApiServer({ objects: OBJECTS });
    audit = await AuditLog.open({ path: logPath, chain: true });
    tunnel = await startInProcessTunnel({
      api,
      audit,
      policy: { mode: 'guarded', allow: ['create pods/exec default/web'] },
    });
  });
  after(async () => {
    await closeTunnelAndLog();
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a plain GET: attributes, status, bytes, and the SHA-256 of the body kubectl received', async () => {
    const from = tunnel.records.length;
    const got = await runKubectl(['get', '--raw', '/api/v1/namespaces/default/configmaps/audited'], tunnel.kubectl);
    assert.equal(got.code, 0, got.stderr);
    assert.match(got.stdout, /"colour":"blue"/);
    const record = await recordAfter(tunnel, from, (r) => r.name === 'audited');
    assertCommonFields(record, 'get');
    assert.deepEqual(
      { method: record.method, verb: record.verb, group: record.group, version: record.version, resource: record.resource, namespace: record.namespace, name: record.name, path: record.path, tier: record.tier, decision: record.decision, status: record.status, bytes_in: record.bytes_in },
      { method: 'GET', verb: 'get', group: '', version: 'v1', resource: 'configmaps', namespace: 'default', name: 'audited', path: '/api/v1/namespaces/default/configmaps/audited', tier: 0, decision: 'allow', status: 200, bytes_in: 0 },
    );
    assert.equal(record.subresource, undefined);
    assert.equal(record.query, undefined, 'no query, no field');
    assert.equal(record.reason, 'tier 0 (read) is allowed in mode "guarded"');
    assert.equal(record.bytes_out, Buffer.byteLength(got.stdout), 'bytes_out is the body kubectl received');
    assert.equal(record.response_sha256, sha256(got.stdout), 'response_sha256 is the SHA-256 of the body kubectl received');

    // The same object fetched here: same bytes, same hash, in its own record.
    const mine = tunnel.records.length;
    const fetched = await tunnelRequest({ port: tunnel.listenerPort, caPem: tunnel.caPem, token: tunnel.token, method: 'GET', path: '/api/v1/namespaces/default/configmaps/audited' });
    assert.equal(fetched.status, 200);
    assert.equal(fetched.body.toString('utf8'), got.stdout);
    const own = await recordAfter(tunnel, mine, (r) => r.name === 'audited');
    assert.notEqual(own.request_id, record.request_id);
    assert.equal(own.response_sha256, sha256(fetched.body));
  });

  it('a watch: hashed while streaming, and recorded with its query when it ends', async () => {
    const from = tunnel.records.length;
    const path = '/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=1';
    const got = await runKubectl(['get', '--raw', path], tunnel.kubectl);
    assert.equal(got.code, 0, got.stderr);
    assert.match(got.stdout, /"type":"ADDED"/);
    const record = await recordAfter(tunnel, from, (r) => r.verb === 'watch');
    assertCommonFields(record, 'watch');
    assert.equal(record.resource, 'configmaps');
    assert.equal(record.namespace, 'default');
    assert.equal(record.name, undefined, 'a watch names no object');
    assert.equal(record.query, 'timeoutSeconds=1&watch=true', 'the query as kubectl sent it (sorted)');
    assert.equal(record.status, 200);
    assert.equal(record.tier, 0);
    assert.equal(record.bytes_out, Buffer.byteLength(got.stdout));
    assert.equal(record.response_sha256, sha256(got.stdout), 'the whole event stream is hashed');

    // kubectl's own --watch, ended by killing kubectl: recorded when the stream closes.
    const watchFrom = tunnel.records.length;
    const watch = startKubectl(['get', 'configmaps', '--watch', '-o', 'name'], tunnel.kubectl);
    await watch.waitFor((lines) => lines.includes('configmap/keep'), 10_000); // the list before the watch
    await waitUntil(() => api.openStreams().watches >= 1, 10_000, 'the watch to be open at the API server');
    api.createObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'watched', namespace: 'default' }, data: {} });
    await watch.waitFor((lines) => lines.includes('configmap/watched'), 10_000);
    await watch.stop();
    const killed = await recordAfter(tunnel, watchFrom, (r) => r.verb === 'watch');
    assertCommonFields(killed, 'kubectl --watch');
    assert.match(killed.query ?? '', /(^|&)watch=true(&|$)/);
    assert.equal(killed.status, 200);
    assert.ok(killed.bytes_out > 0, 'the event sent was counted');
  });

  it('an exec: the WebSocket GET is a tier-3 create, allowed by its rule, with both directions counted', async () => {
    const from = tunnel.records.length;
    const stdin = 'audited stdin\n';
    const got = await runKubectl(['exec', '-i', 'web', '--', 'cat'], { ...tunnel.kubectl, stdin });
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout, stdin);
    const record = await recordAfter(tunnel, from, (r) => r.subresource === 'exec');
    assertCommonFields(record, 'exec');
    assert.deepEqual(
      { method: record.method, verb: record.verb, resource: record.resource, subresource: record.subresource, namespace: record.namespace, name: record.name, tier: record.tier, decision: record.decision, rule: record.rule, status: record.status },
      { method: 'GET', verb: 'create', resource: 'pods', subresource: 'exec', namespace: 'default', name: 'web', tier: 3, decision: 'allow', rule: '--allow "create pods/exec default/web"', status: 101 },
    );
    assert.match(record.query ?? '', /(^|&)command=cat(&|$)/);
    assert.ok(record.bytes_in > stdin.length, `stdin was counted (${record.bytes_in})`);
    assert.ok(record.bytes_out > stdin.length, `the echo was counted (${record.bytes_out})`);
  });

  it('an exec hash covers exactly what the client received after the 101 head', async () => {
    const from = tunnel.records.length;
    const exec = await rawExec(tunnel, '/api/v1/namespaces/default/pods/web/exec?command=echo&command=raw&stdout=true');
    assert.equal(exec.status, 101);
    assert.ok(exec.body.includes('raw'), 'the output arrived');
    const record = await recordAfter(tunnel, from, (r) => r.subresource === 'exec');
    assert.equal(record.status, 101);
    assert.equal(record.bytes_out, exec.body.length);
    assert.equal(record.response_sha256, sha256(exec.body));
  });

  it('Security: a secret in exec arguments is redacted from the query in the log', async () => {
    const from = tunnel.records.length;
    const got = await runKubectl(['exec', 'web', '--', 'echo', `--password=${SECRET_ARGUMENT}`], tunnel.kubectl);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout.trim(), `--password=${SECRET_ARGUMENT}`);
    const record = await recordAfter(tunnel, from, (r) => r.subresource === 'exec');
    assert.match(record.query ?? '', /\[REDACTED\]/);
    assert.ok(!(record.query ?? '').includes(SECRET_ARGUMENT), `the query keeps no secret: ${record.query}`);
  });

  it('a refusal: the 403 is recorded with its reason, and hashed as the client received it', async () => {
    const from = tunnel.records.length;
    const got = await runKubectl(['delete', 'configmap', 'keep'], tunnel.kubectl);
    assert.equal(got.code, 1);
    const message = 'kubepair policy "guarded" refuses "delete configmaps" (tier 3): tiers 2-3 need a matching --allow rule (the sharer can add --allow "delete configmaps")';
    assert.equal(got.stderr.trim(), `Error from server (Forbidden): ${message}`);
    const record = await recordAfter(tunnel, from, (r) => r.verb === 'delete');
    assertCommonFields(record, 'refusal');
    assert.deepEqual(
      { decision: record.decision, tier: record.tier, status: record.status, name: record.name, reason: record.reason, rule: record.rule },
      { decision: 'deny', tier: 3, status: 403, name: 'keep', reason: message, rule: undefined },
    );
    const mine = tunnel.records.length;
    const refused = await tunnelRequest({ port: tunnel.listenerPort, caPem: tunnel.caPem, token: tunnel.token, method: 'DELETE', path: '/api/v1/namespaces/default/configmaps/keep' });
    assert.equal(refused.status, 403);
    const own = await recordAfter(tunnel, mine, (r) => r.verb === 'delete');
    assert.equal(own.bytes_out, refused.body.length, 'the refusal body was counted');
    assert.equal(own.response_sha256, sha256(refused.body), 'the refusal body was hashed');
    assert.equal(record.response_sha256, own.response_sha256, 'kubectl got the same refusal');
  });

  it('the file has every record, redacted, in order, and the chain verifies with kubepair audit verify', async () => {
    await closeTunnelAndLog();
    const text = await readFile(logPath, 'utf8');
    assert.ok(!text.includes(SECRET_ARGUMENT), 'the secret argument is nowhere in the file');
    const lines = text.split('\n').filter((line) => line !== '');
    const parsed = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    const finals = parsed.filter((fields) => fields['event'] === 'request');
    assert.equal(finals.length, tunnel.records.length, 'one request record per request');
    lines.forEach((line, index) => {
      const { seq, prev, hash } = parsed[index]!;
      assert.equal(seq, index, `line ${index + 1}: seq`);
      assert.match(String(prev), index === 0 ? /^genesis$/ : /^[0-9a-f]{64}$/, `line ${index + 1}: prev`);
      assert.match(String(hash), /^[0-9a-f]{64}$/, `line ${index + 1}: hash`);
    });
    finals.forEach(({ seq: _seq, prev: _prev, hash: _hash, ...fields }, index) => {
      assert.deepEqual(fields, redactValue(tunnel.records[index]), `request record ${index + 1}: the record, redacted`);
    });
    // Every forwarded request was recorded before it was forwarded: a request_started line, earlier
    // in the file, with the same id and what was decided; refused requests were never started.
    for (const record of tunnel.records) {
      const started = parsed.findIndex((fields) => fields['event'] === 'request_started' && fields['request_id'] === record.request_id);
      const ended = parsed.findIndex((fields) => fields['event'] === 'request' && fields['request_id'] === record.request_id);
      if (record.decision === 'deny') {
        assert.equal(started, -1, `${record.request_id}: a refusal is never started`);
        continue;
      }
      assert.ok(started >= 0 && started < ended, `${record.request_id} ${record.method} ${record.path}: started before it ended`);
      const { event: _event, seq: _s, prev: _p, hash: _h, ...startFields } = parsed[started]!;
      const { event: _e2, status: _st, bytes_in: _bi, bytes_out: _bo, response_sha256: _rs, duration_ms: _d, seq: _s2, prev: _p2, hash: _h2, ...endFields } = parsed[ended]!;
      assert.deepEqual(startFields, endFields, `${record.request_id}: the started record describes the same request`);
    }

    const verified = await runKubepair(['audit', 'verify', logPath]);
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stdout, new RegExp(`OK: ${lines.length} records verified in .*audit\\.jsonl \\(seq 0-${lines.length - 1}, from genesis\\)`));

    // Turning the refusal into an allow after the fact is caught.
    const refusal = lines.findIndex((line) => line.includes('"decision":"deny"'));
    assert.ok(refusal >= 0);
    const forged = join(dir, 'forged.jsonl');
    const edited = lines.map((line, index) => (index === refusal ? line.replace('"decision":"deny"', '"decision":"allow"') : line));
    await writeFile(forged, edited.join('\n') + '\n');
    const caught = await runKubepair(['audit', 'verify', forged]);
    assert.equal(caught.code, 1);
    assert.match(caught.stderr, new RegExp(`^kubepair: the audit log failed verification: .*forged\\.jsonl line ${refusal + 1}: hash mismatch`));
  });
});

describe('an audit log that cannot be written', { timeout: 120_000 }, () => {
  const KEEP = 10;
  let dir = '';
  let api: KubeApiServer;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubepair-audit-broken-'));
    api = await startKubeApiServer({ objects: OBJECTS });
  });
  after(async () => {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  /**
   * A chained log that opens fine and then fails every write: it is over `maxBytes`, so the
   * next append rotates, and rotating must first unlink the oldest kept file, PATH.<keep>: a
   * directory there cannot be unlinked (EISDIR, for root too). Removing that directory repairs
   * it. Resolves `failed` with the first error.
   */
  async function breakingLog(name: string, options: Partial<AuditLogOptions>): Promise<{ log: AuditLog; path: string; blocker: string; failed: Promise<KubepairError> }> {
    const path = join(dir, name, 'audit.jsonl');
    const seed = await AuditLog.open({ path, chain: true });
    await seed.append({ event: 'padding', detail: 'p'.repeat(2 * AUDIT_ROTATE_MIN_BYTES) });
    await seed.close();
    const blocker = `${path}.${KEEP}`;
    await mkdir(blocker);
    let report: (err: KubepairError) => void = () => undefined;
    const failed = new Promise<KubepairError>((resolve) => (report = resolve));
    const log = await AuditLog.open({ path, chain: true, maxBytes: AUDIT_ROTATE_MIN_BYTES, keep: KEEP, ...options, onError: (err) => report(err) });
    return { log, path, blocker, failed };
  }

  function mark(): number {
    return api.requests().at(-1)?.seq ?? 0;
  }

  it('Security: fails closed: once a record cannot be written every request is refused with a clear error, until a write succeeds', async () => {
    const { log, path, blocker, failed } = await breakingLog('closed', {});
    const tunnel = await startInProcessTunnel({ api, audit: log, policy: { mode: 'open' } });
    try {
      // Even the first request is refused: it is recorded before it is forwarded, and that write fails.
      const before = mark();
      const first = await tunnelRequest({ port: tunnel.listenerPort, caPem: tunnel.caPem, token: tunnel.token, method: 'GET', path: '/version' });
      assert.equal(first.status, 500);
      const error = await failed;
      assert.equal(error.code, 'KP_ERR_AUDIT_WRITE');
      assert.deepEqual(api.requests().filter((r) => r.seq > before), [], 'the unrecorded request never reached the API server');

      const since = mark();
      const got = await runKubectl(['get', 'configmaps', '-o', 'name'], tunnel.kubectl);
      assert.equal(got.code, 1, got.stderr);
      const message = 'kubepair: the agent cannot write its audit log, so it refuses every request until the sharer fixes it (fail closed)';
      // kubectl's discovery fails first; the message reaches the user on that path too.
      assert.ok(
        got.stderr.trimEnd().endsWith(`Error from server (InternalError): an error on the server (${JSON.stringify(message)}) has prevented the request from succeeding`),
        `kubectl's stderr: ${got.stderr}`,
      );
      assert.ok(!got.stderr.includes(dir), 'the agent\'s file path is not shown to the client');
      assert.equal(got.stdout, '');
      const exec = await tunnelRequest({ port: tunnel.listenerPort, caPem: tunnel.caPem, token: tunnel.token, method: 'GET', path: '/api/v1/namespaces/default/pods/web/exec?command=true', headers: WEBSOCKET_EXEC_HEADERS });
      assert.equal(exec.status, 500, 'an upgrade is refused too');
      assert.equal(exec.body.toString('utf8'), message);
      const raw = await runKubectl(['get', '--raw', '/api/v1/namespaces/default/configmaps/audited'], tunnel.kubectl);
      assert.equal(raw.code, 1);
      assert.equal(raw.stderr.trim(), `Error from server (InternalError): an error on the server (${JSON.stringify(message)}) has prevented the request from succeeding`);
      assert.deepEqual(api.requests().filter((r) => r.seq > since).map((r) => `${r.method} ${r.path}`), [], 'nothing reached the API server');
      const refusals = tunnel.records.filter((r) => r.status === 500);
      assert.ok(refusals.length >= 2 && refusals.every((r) => r.decision === 'allow'), 'the policy allowed them; the audit log refused them');
      // Appends are written in order: once this one settles, every refusal's record has been tried.
      await log.append({ event: 'settle' }).catch(() => undefined);
      assert.ok(log.errorCount >= refusals.length, 'every refusal\'s own record failed too');

      // Repaired: the next record (a refusal's, or any other) is written, and requests pass again.
      await rmdir(blocker);
      const refusalsSoFar = tunnel.records.length;
      const probe = await tunnelRequest({ port: tunnel.listenerPort, caPem: tunnel.caPem, token: tunnel.token, method: 'GET', path: '/version' });
      assert.equal(probe.status, 500, 'still refused: the log has not been written yet');
      await recordAfter(tunnel, refusalsSoFar, (r) => r.path === '/version'); // its record is being written
      await log.append({ event: 'probe' }); // resolves after that record, which came first
      assert.equal(log.lastError, undefined);
      const again = await runKubectl(['get', 'configmaps', '-o', 'name'], tunnel.kubectl);
      assert.equal(again.code, 0, again.stderr);
      assert.match(again.stdout, /configmap\/audited/);
    } finally {
      await tunnel.close();
      await log.close();
    }
    // Every piece, oldest first: the chain runs unbroken from genesis across the failure.
    const rotated = (await readdir(dirname(path))).map((name) => /^audit\.jsonl\.(\d+)$/.exec(name)?.[1]).filter((n) => n !== undefined).map(Number);
    const pieces = [...rotated.sort((a, b) => b - a).map((n) => `${path}.${n}`), path];
    const verified = await runKubepair(['audit', 'verify', ...pieces]);
    assert.equal(verified.code, 0, `the chain is intact across the failure: ${verified.stderr}`);
  });

  it('--audit-fail-open keeps serving while records are lost, and counts them', async () => {
    const { log, failed } = await breakingLog('open', { failOpen: true });
    const tunnel = await startInProcessTunnel({ api, audit: log, auditFailOpen: true, policy: { mode: 'open' } });
    try {
      const first = await tunnelRequest({ port: tunnel.listenerPort, caPem: tunnel.caPem, token: tunnel.token, method: 'GET', path: '/version' });
      assert.equal(first.status, 200);
      assert.equal((await failed).code, 'KP_ERR_AUDIT_WRITE');
      const since = mark();
      const got = await runKubectl(['get', 'configmaps', '-o', 'name'], tunnel.kubectl);
      assert.equal(got.code, 0, got.stderr);
      assert.match(got.stdout, /configmap\/audited/);
      assert.ok(api.requests().some((r) => r.seq > since && r.resource === 'configmaps'), 'the request reached the API server');
      assert.ok(tunnel.records.every((r) => r.status !== 500), 'nothing was refused');
    } finally {
      await tunnel.close();
      await log.close();
    }
    assert.ok(log.errorCount >= 2, `failures were counted (${log.errorCount})`);
  });
});
