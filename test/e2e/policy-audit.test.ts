/**
 * End to end, policy and audit (issue 5): real relay, `kubepair share --policy readonly
 * --audit-log FILE --audit-chain` and `kubepair connect -- kubectl ...` processes, the fixture
 * API server and the real kubectl. A refused delete fails in kubectl with the Forbidden line,
 * never reaches the API server, and the chained audit log that share leaves behind verifies
 * with `kubepair audit verify` and holds the refusal.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runKubepair } from '../helpers/cli.js';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import { kubectlSandbox } from '../helpers/kubectl.js';

describe('e2e: policy and audit with real processes', { timeout: 120_000 }, () => {
  let stack: E2EStack;
  let home: Awaited<ReturnType<typeof kubectlSandbox>>;
  before(async () => {
    stack = await startE2EStack({
      api: { objects: [{ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', namespace: 'default' }, data: { keep: 'me' } }] },
    });
    home = await kubectlSandbox('kubepair-e2e-policy-home-');
  });
  after(async () => {
    await stack.close();
    await home.remove();
  });

  it('Security: readonly refuses kubectl delete with the Forbidden line, and the chained audit log verifies and holds the refusal', async () => {
    const auditLog = join(stack.dir, 'agent-audit', 'audit.jsonl');
    const share = await stack.startShare(['--once', '--policy', 'readonly', '--audit-log', auditLog, '--audit-chain']);
    const connect = stack.startConnect([share.code, '--', 'kubectl', 'delete', 'configmap', 'x'], { HOME: home.dir });
    const connectExit = await connect.exited;
    assert.equal(connectExit.code, 1, `kubectl's exit status is passed through: ${connect.stderr()}`);
    assert.ok(
      connect.stderr().split('\n').includes('Error from server (Forbidden): kubepair policy "readonly" refuses "delete configmaps" (tier 3): mode "readonly" allows only tier 0 (reads)'),
      `connect's stderr: ${connect.stderr()}`,
    );
    assert.match(connect.stderr(), /policy:\s+readonly/, 'the banner shows the policy');
    assert.ok(!stack.api.requests().some((r) => r.method === 'DELETE'), 'the delete never reached the API server');
    assert.deepEqual(stack.api.getObject('v1', 'ConfigMap', 'default', 'x').data, { keep: 'me' });

    // share --once exits when the client leaves, after closing its audit log.
    const shareExit = await share.process.exited;
    assert.equal(shareExit.code, 0, share.process.stderr());
    assert.match(share.process.stderr(), /! 403 delete configmaps default x \(refused: policy, tier 3\)/, 'share showed the refusal');

    const verified = await runKubepair(['audit', 'verify', auditLog], { env: stack.env('agent') });
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(verified.stdout, /^kubepair audit verify: OK: \d+ records verified in .*audit\.jsonl \(seq 0-\d+, from genesis\)/);

    const records = (await readFile(auditLog, 'utf8'))
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const refusal = records.find((r) => r['event'] === 'request' && r['verb'] === 'delete');
    assert.ok(refusal !== undefined, `the refusal is in the log: ${JSON.stringify(records)}`);
    assert.deepEqual(
      {
        method: refusal['method'],
        resource: refusal['resource'],
        namespace: refusal['namespace'],
        name: refusal['name'],
        tier: refusal['tier'],
        decision: refusal['decision'],
        status: refusal['status'],
        reason: refusal['reason'],
      },
      {
        method: 'DELETE',
        resource: 'configmaps',
        namespace: 'default',
        name: 'x',
        tier: 3,
        decision: 'deny',
        status: 403,
        reason: 'kubepair policy "readonly" refuses "delete configmaps" (tier 3): mode "readonly" allows only tier 0 (reads)',
      },
    );
    assert.match(String(refusal['response_sha256']), /^[0-9a-f]{64}$/);
    assert.ok(Number(refusal['bytes_out']) > 0, 'the refusal body was counted');
    const session = String(refusal['session']);
    assert.ok(records.some((r) => r['event'] === 'session_established' && r['session'] === session), 'the session start is recorded');
    assert.ok(records.some((r) => r['event'] === 'session_ended' && r['session'] === session), 'the session end is recorded');
    assert.ok(records.every((r) => r['event'] !== 'request' || r['session'] === session), 'every request belongs to the session');
  });

  it('Security: a second share on the same audit log exits 2 at start, naming the file and the first share\'s pid', async () => {
    const auditLog = join(stack.dir, 'shared-audit', 'audit.jsonl');
    const first = await stack.startShare(['--audit-log', auditLog, '--audit-chain']);
    const second = stack.spawnShare(['--audit-log', auditLog, '--audit-chain']);
    await second.waitFor(/^kubepair: /m, 15_000, 'stderr'); // without the lock it would show a code instead
    const exit = await second.exited;
    assert.equal(exit.code, 2, second.stderr());
    assert.equal(
      second.stderr().trim(),
      `kubepair: another process writes this audit log (one writer per file): ${auditLog} is written by pid ${first.process.child.pid}; give each share its own --audit-log`,
    );
    assert.ok(!second.stdout().includes('Pairing code'), 'the second share showed no code');
    // Once the first share stops (and releases the lock), the file can be shared again.
    await first.process.stop('SIGTERM');
    const third = await stack.startShare(['--audit-log', auditLog, '--audit-chain']);
    assert.match(third.code, /^\d+-\d{4}-\d{4}$/);
    await third.process.stop('SIGTERM');
  });

  it('Security: without --audit-log, share audits to $XDG_STATE_HOME/kubepair/audit.jsonl and makes that directory private', async () => {
    const env = stack.env('agent');
    const dir = join(String(env['XDG_STATE_HOME']), 'kubepair');
    await mkdir(dir, { recursive: true });
    await chmod(dir, 0o755); // left too open by someone else
    const share = await stack.startShare(['--once']);
    assert.equal((await stat(dir)).mode & 0o777, 0o700, 'the directory is tightened to 0700');
    assert.equal((await stat(join(dir, 'audit.jsonl'))).mode & 0o777, 0o600, 'the log is 0600');
    await share.process.stop('SIGTERM');
  });
});
