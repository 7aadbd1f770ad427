/**
 * End to end, live approval (issue 14, "two-person rule"): a real relay, `kubepair share
 * --approve` under a pseudo-terminal (`script`), `kubepair connect --no-shell` and the real
 * kubectl against the fixture API server. A request guarded refuses for its tier waits, the
 * share's terminal asks, and the key typed there decides: an approved delete succeeds, a declined
 * one fails with the 403 that says so, an unanswered one is declined after --approve-timeout,
 * "approve for the session" lets the same request through again without asking (and nothing
 * wider), a request a --deny rule refuses is never offered. The audit records carry the
 * decision, who made it and how long the request waited.
 *
 * "Approve for the session" is a change of the session's policy: `kubepair status` on both
 * sides shows the added rule, connect prints the change, the `session_changed` record is in the
 * log before the request goes on; and with the audit log broken for real (RLIMIT_FSIZE, as in
 * audit-fail-closed.test.ts) such an approval refuses the request and widens nothing.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { findControlSockets } from '../../src/control/control-client.js';
import { CLI_PATH, runKubepair } from '../helpers/cli.js';
import { liftFileSizeLimit, limitFileSize } from '../helpers/file-size-limit.js';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import type { KubectlOptions, KubectlResult } from '../helpers/kubectl.js';
import { kubectlSandbox, runKubectl } from '../helpers/kubectl.js';
import type { ManagedProcess } from '../helpers/managed-process.js';
import { startProcess } from '../helpers/managed-process.js';
import { waitUntil } from '../helpers/wait-until.js';

const T = { timeout: 120_000 };
const NAMES = ['approve-me', 'decline-me', 'wait-me', 'deny-me', 'session-a', 'session-b', 'ctl-a', 'ctl-b', 'ctl-c', 'unaudited'];

interface ApprovingShare {
  readonly share: ManagedProcess;
  readonly connect: ManagedProcess;
  readonly auditLog: string;
  readonly kubectl: KubectlOptions;
  /** How many approval prompts the share's terminal has shown. */
  prompts(): number;
  close(): Promise<void>;
}

describe('e2e: live approval (share --approve) with real processes', () => {
  let stack: E2EStack;
  let home: Awaited<ReturnType<typeof kubectlSandbox>>;
  let shares = 0;
  before(async () => {
    stack = await startE2EStack({
      api: { objects: NAMES.map((name) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'default' }, data: { keep: 'me' } })) },
    });
    home = await kubectlSandbox('kubepair-e2e-approval-home-');
  });
  after(async () => {
    await stack.close();
    await home.remove();
  });

  /** `share --approve ARGS` under a pseudo-terminal, a connected client, kubectl options for it. */
  async function approvingShare(args: readonly string[]): Promise<ApprovingShare> {
    shares += 1;
    const auditLog = join(stack.dir, `approval-audit-${shares}`, 'audit.jsonl');
    const command = ['share', '--kubeconfig', stack.agentKubeconfig, '--once', '--approve', '--audit-log', auditLog, ...args].map((arg) => `'${arg}'`).join(' ');
    const share = startProcess('script', ['-qec', `'${process.execPath}' '${CLI_PATH}' ${command}`, '/dev/null'], stack.env('agent'));
    const code = (await share.waitFor(/kubepair connect (\d+-\d{4}-\d{4})/, 60_000, 'stdout'))[1]!;
    const connect = stack.startConnect(['--no-shell', code]);
    const exported = await connect.waitFor(/export KUBECONFIG=(\S+)/, 30_000, 'stdout');
    return {
      share,
      connect,
      auditLog,
      kubectl: { kubeconfig: exported[1]!, home: home.dir, timeoutMs: 60_000 },
      prompts: () => share.stdout().match(/approval needed for request #\d+/g)?.length ?? 0,
      async close() {
        await connect.stop('SIGTERM');
        await share.exitedWithin(20_000);
      },
    };
  }

  /** Run kubectl while the share asks; answer the `prompt`-th prompt with `key` once it shows. */
  async function answered(running: ApprovingShare, args: readonly string[], prompt: number, key: string): Promise<{ result: KubectlResult; screen: string }> {
    const result = runKubectl(args, running.kubectl);
    await waitUntil(() => running.prompts() >= prompt, 30_000, `approval prompt ${prompt} on the share's terminal`);
    const screen = running.share.stdout();
    running.share.child.stdin.write(key);
    return { result: await result, screen };
  }

  async function records(auditLog: string): Promise<Array<Record<string, unknown>>> {
    return (await readFile(auditLog, 'utf8'))
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }

  function requestRecord(all: ReadonlyArray<Record<string, unknown>>, verb: string, name: string): Record<string, unknown> {
    const found = all.filter((r) => r['event'] === 'request' && r['verb'] === verb && r['name'] === name);
    assert.equal(found.length, 1, `one ${verb} ${name} record: ${JSON.stringify(all)}`);
    return found[0]!;
  }

  /** The pid of the one running kubepair `role` (share runs under `script`: its own pid, from its control socket). */
  async function controlPid(role: 'share' | 'connect'): Promise<number> {
    const found = await findControlSockets({ role, env: stack.env('agent') });
    assert.equal(found.length, 1, `one ${role} runs: ${JSON.stringify(found)}`);
    return found[0]!.pid;
  }

  function exists(name: string): boolean {
    try {
      stack.api.getObject('v1', 'ConfigMap', 'default', name);
      return true;
    } catch {
      return false;
    }
  }

  it('under a terminal: an approved delete succeeds, a declined one gets the 403 that says so; the audit records carry decision, decider and wait', T, async () => {
    const running = await approvingShare([]);
    try {
      const deletesBefore = stack.api.requests().filter((r) => r.method === 'DELETE').length;
      const approved = await answered(running, ['delete', 'configmap', 'approve-me'], 1, 'y');
      assert.match(approved.screen, /approval needed for request #1 \(1 waiting\)/);
      assert.match(approved.screen, /request: +delete configmaps \(namespace default, name approve-me\), tier 3: deletion/);
      assert.match(approved.screen, /allowed by: --allow "delete configmaps default\/approve-me"/);
      assert.match(approved.screen, /\[y\] approve once +\[s\] approve for this session \(adds --allow "delete configmaps default\/approve-me"\) +\[n\] decline +\[N\] decline all 1/);
      assert.equal(approved.result.code, 0, approved.result.stderr);
      assert.match(approved.result.stdout, /configmap "approve-me" deleted/);
      assert.ok(!exists('approve-me'), 'the approved delete happened');

      const declined = await answered(running, ['delete', 'configmap', 'decline-me'], 2, 'n');
      assert.equal(declined.result.code, 1);
      assert.ok(
        declined.result.stderr.split('\n').includes('Error from server (Forbidden): kubepair: the sharer declined "delete configmaps default/decline-me" (tier 3, deletion)'),
        declined.result.stderr,
      );
      assert.ok(exists('decline-me'), 'the declined delete never happened');
      const deletes = stack.api.requests().filter((r) => r.method === 'DELETE').slice(deletesBefore);
      assert.deepEqual(deletes.map((r) => r.path), ['/api/v1/namespaces/default/configmaps/approve-me'], 'only the approved delete reached the API server');
      await waitUntil(() => /request #2 declined/.test(running.share.stdout()), 10_000, 'the share to report the decline');
    } finally {
      await running.close();
    }
    const all = await records(running.auditLog);
    const approvedRecord = requestRecord(all, 'delete', 'approve-me');
    assert.equal(approvedRecord['decision'], 'allow');
    assert.equal(approvedRecord['decided_by'], 'sharer');
    assert.equal(approvedRecord['approval'], 'approved_once');
    assert.equal(approvedRecord['status'], 200);
    assert.ok(Number.isInteger(approvedRecord['waited_ms']) && Number(approvedRecord['waited_ms']) >= 0, JSON.stringify(approvedRecord));
    const started = all.filter((r) => r['event'] === 'request_started' && r['verb'] === 'delete' && r['name'] === 'approve-me');
    assert.equal(started.length, 1, 'the approved request was recorded before it was forwarded');
    assert.equal(started[0]!['decided_by'], 'sharer');
    const declinedRecord = requestRecord(all, 'delete', 'decline-me');
    assert.deepEqual(
      { decision: declinedRecord['decision'], decided_by: declinedRecord['decided_by'], approval: declinedRecord['approval'], status: declinedRecord['status'] },
      { decision: 'deny', decided_by: 'sharer', approval: 'declined', status: 403 },
    );
    assert.ok(Number.isInteger(declinedRecord['waited_ms']));
    assert.ok(!all.some((r) => r['event'] === 'request_started' && r['verb'] === 'delete' && r['name'] === 'decline-me'), 'the declined request was never started');
    const read = all.find((r) => r['event'] === 'request' && r['verb'] === 'get');
    assert.equal(read?.['decided_by'], 'policy', 'what the policy allows by itself is decided by the policy');
  });

  it('an unanswered request is declined after --approve-timeout, decided by the policy', T, async () => {
    const running = await approvingShare(['--approve-timeout', '2s']);
    try {
      const result = await runKubectl(['delete', 'configmap', 'wait-me'], running.kubectl);
      assert.equal(result.code, 1);
      assert.ok(
        result.stderr.split('\n').includes('Error from server (Forbidden): kubepair: the sharer did not answer in time (2 s), so "delete configmaps default/wait-me" (tier 3, deletion) is refused'),
        result.stderr,
      );
      assert.equal(running.prompts(), 1, 'the sharer was asked');
      assert.ok(exists('wait-me'));
    } finally {
      await running.close();
    }
    const record = requestRecord(await records(running.auditLog), 'delete', 'wait-me');
    assert.deepEqual(
      { decision: record['decision'], decided_by: record['decided_by'], approval: record['approval'], status: record['status'] },
      { decision: 'deny', decided_by: 'policy', approval: 'timed_out', status: 403 },
    );
    assert.ok(Number(record['waited_ms']) >= 2000, `it waited the whole timeout: ${String(record['waited_ms'])}`);
  });

  it('"approve for the session" lets the same request through again without asking, and nothing wider', T, async () => {
    const running = await approvingShare([]);
    try {
      const first = await answered(running, ['annotate', 'configmap', 'session-a', 'step=one', '--overwrite'], 1, 's');
      assert.equal(first.result.code, 0, first.result.stderr);
      await waitUntil(() => /request #1 approved for this session \(--allow "patch configmaps default\/session-a"\)/.test(running.share.stdout()), 10_000, 'the share to show the rule it added');
      // The rule is in the session's policy: both sides' status shows it, and connect was told.
      for (const role of ['share', 'connect'] as const) {
        const status = await runKubepair(['status', '--pid', String(await controlPid(role))], { env: stack.env('agent') });
        assert.equal(status.code, 0, status.stderr);
        assert.match(status.stdout, /\n {4}policy: {3}guarded, 1 rule: allow "patch configmaps default\/session-a"\n/, `${role}: ${status.stdout}`);
      }
      await running.connect.waitFor(/kubepair: the sharer changed this session: policy is now guarded, 1 rule: allow "patch configmaps default\/session-a" \(was guarded\)/, 20_000, 'stderr');
      const again = await runKubectl(['annotate', 'configmap', 'session-a', 'step=two', '--overwrite'], running.kubectl);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(running.prompts(), 1, 'the second identical request was not asked about');
      assert.equal((stack.api.getObject('v1', 'ConfigMap', 'default', 'session-a').metadata as { annotations?: Record<string, string> }).annotations?.['step'], 'two');
      // Another object is not covered by the rule: asked again, and declined.
      const other = await answered(running, ['annotate', 'configmap', 'session-b', 'step=one', '--overwrite'], 2, 'n');
      assert.equal(other.result.code, 1);
      assert.match(other.result.stderr, /the sharer declined "patch configmaps default\/session-b"/);
    } finally {
      await running.close();
    }
    const all = await records(running.auditLog);
    const patches = all.filter((r) => r['event'] === 'request' && r['verb'] === 'patch' && r['name'] === 'session-a');
    // The change was recorded, as the sharer's, before the approved request (and the next one) went on.
    const changes = all.filter((r) => r['event'] === 'session_changed');
    assert.deepEqual(
      changes.map((r) => ({ by: r['by'], change: r['change'], via: r['via'], request_id: r['request_id'], policy: r['policy'] })),
      [{ by: 'sharer', change: 'policy', via: 'approval', request_id: patches[0]?.['request_id'], policy: { mode: 'guarded', allow: ['patch configmaps default/session-a'], deny: [] } }],
    );
    const started = all.flatMap((r, index) => (r['event'] === 'request_started' && r['verb'] === 'patch' && r['name'] === 'session-a' ? [index] : []));
    assert.equal(started.length, 2);
    assert.ok(all.indexOf(changes[0]!) < started[0]!, 'session_changed comes before the approved request was forwarded, and so before the second one');
    assert.deepEqual(
      patches.map((r) => ({ decision: r['decision'], decided_by: r['decided_by'], approval: r['approval'], rule: r['rule'] })),
      [
        { decision: 'allow', decided_by: 'sharer', approval: 'approved_session', rule: '--allow "patch configmaps default/session-a"' },
        { decision: 'allow', decided_by: 'policy', approval: undefined, rule: '--allow "patch configmaps default/session-a"' },
      ],
    );
    assert.equal(patches[1]!['reason'], 'allowed by --allow "patch configmaps default/session-a"', 'the approved rule is an --allow rule of the session\'s policy');
  });

  it('Security: "approve for the session" whose session_changed record cannot be written (the disk refuses it) refuses the request and widens nothing', T, async () => {
    const running = await approvingShare([]);
    const env = stack.env('agent');
    const annotate = ['annotate', 'configmap', 'unaudited', 'step=one', '--overwrite'];
    let changedBefore = 0;
    try {
      const sharePid = await controlPid('share');
      const result = runKubectl(annotate, running.kubectl);
      await waitUntil(() => running.prompts() >= 1, 30_000, 'the approval prompt');
      assert.match(running.share.stdout(), /\[s\] approve for this session \(adds --allow "patch configmaps default\/unaudited"\)/);
      changedBefore = (await records(running.auditLog)).filter((r) => r['event'] === 'session_changed').length;
      // Broken: the share's next write fails with EFBIG, as on a full disk. The sharer approves for the session.
      await limitFileSize(sharePid, (await stat(running.auditLog)).size);
      let approve;
      try {
        approve = await runKubepair(['approve', '1', '--for-session', '--pid', String(sharePid)], { env });
      } finally {
        await liftFileSizeLimit(sharePid);
      }
      assert.equal(approve.code, 1, approve.stderr);
      assert.match(approve.stderr, /^kubepair: the request was not approved for the session, and is refused: its rule could not be added to the session's policy: the change was not made: its audit record cannot be written \(fail closed\)/m);
      const refused = await result;
      assert.equal(refused.code, 1, refused.stdout);
      assert.match(
        refused.stderr,
        /Error from server \(Forbidden\): kubepair: the sharer approved "patch configmaps default\/unaudited" \(tier \d, [^)]+\) for the session, but that policy change was not made \(its audit record cannot be written \(fail closed\)\), so it is refused/,
      );
      await waitUntil(() => /request #1 refused, not approved for this session: /.test(running.share.stdout()), 10_000, 'the share to say the request was refused');

      // Healed: the policy is as it was; the same request is asked about again, and declined.
      const status = await runKubepair(['status', '--pid', String(sharePid), '--json'], { env });
      assert.deepEqual((JSON.parse(status.stdout) as { sessions: Array<{ policy: unknown }> }).sessions[0]?.policy, { mode: 'guarded', allow: [], deny: [] });
      const again = await answered(running, annotate, 2, 'n');
      assert.equal(again.result.code, 1);
      assert.match(again.result.stderr, /the sharer declined "patch configmaps default\/unaudited"/);
      assert.equal((stack.api.getObject('v1', 'ConfigMap', 'default', 'unaudited').metadata as { annotations?: Record<string, string> }).annotations?.['step'], undefined, 'neither request changed the object');
      assert.doesNotMatch(running.connect.stderr(), /the sharer changed this session/, 'the client was told of no change');
    } finally {
      await running.close();
    }
    const all = await records(running.auditLog);
    assert.equal(all.filter((r) => r['event'] === 'session_changed').length, changedBefore, 'no session_changed record');
    assert.ok(!all.some((r) => r['event'] === 'request_started' && r['verb'] === 'patch' && r['name'] === 'unaudited'), 'no patch of it was forwarded');
  });

  it('Security: a request a --deny rule refuses is never offered for approval', T, async () => {
    const running = await approvingShare(['--deny', 'delete configmaps default/deny-me']);
    try {
      const result = await runKubectl(['delete', 'configmap', 'deny-me'], running.kubectl);
      assert.equal(result.code, 1);
      assert.ok(
        result.stderr.split('\n').includes('Error from server (Forbidden): kubepair policy "guarded" refuses "delete configmaps" (tier 3): refused by --deny "delete configmaps default/deny-me"'),
        result.stderr,
      );
      assert.equal(running.prompts(), 0, 'the sharer was not asked');
      assert.ok(exists('deny-me'));
    } finally {
      await running.close();
    }
    const record = requestRecord(await records(running.auditLog), 'delete', 'deny-me');
    assert.deepEqual({ decided_by: record['decided_by'], approval: record['approval'] }, { decided_by: 'policy', approval: undefined });
  });

  it('without a terminal, kubepair approvals / approve / decline answer through the control socket', T, async () => {
    const { process: share, code } = await stack.startShare(['--once', '--approve']);
    assert.match(share.stderr(), /answer held requests with kubepair approvals \/ approve ID \/ decline ID \(control socket \S+share-\d+\.sock\)/);
    const connect = stack.startConnect(['--no-shell', code]);
    const kubectl: KubectlOptions = { kubeconfig: (await connect.waitFor(/export KUBECONFIG=(\S+)/, 30_000, 'stdout'))[1]!, home: home.dir, timeoutMs: 60_000 };
    const env = stack.env('agent');
    const listed = async (): Promise<string> => (await runKubepair(['approvals'], { env })).stdout;
    try {
      const first = runKubectl(['delete', 'configmap', 'ctl-a'], kubectl);
      let list = '';
      for (let attempt = 0; attempt < 100 && !list.includes('#1 '); attempt += 1) list = await listed();
      assert.match(list, /^#1 {2}delete configmaps default\/ctl-a {2}tier 3 \(deletion\) {2}client \S+ {2}until \S+ {2}--allow "delete configmaps default\/ctl-a"$/m);
      const approve = await runKubepair(['approve', '1'], { env });
      assert.equal(approve.code, 0, approve.stderr);
      assert.equal(approve.stdout, 'request #1 approved once\n');
      const approved = await first;
      assert.equal(approved.code, 0, approved.stderr);
      assert.ok(!exists('ctl-a'));

      const second = runKubectl(['delete', 'configmap', 'ctl-b'], kubectl);
      const third = runKubectl(['delete', 'configmap', 'ctl-c'], kubectl);
      for (let attempt = 0; attempt < 100 && (list.match(/^#\d+ /gm)?.length ?? 0) < 2; attempt += 1) list = await listed();
      assert.equal(list.match(/^#\d+ /gm)?.length, 2, list);
      const ambiguous = await runKubepair(['approve'], { env });
      assert.equal(ambiguous.code, 2, ambiguous.stderr);
      assert.match(ambiguous.stderr, /^kubepair: several requests wait for approval: name one by its id \(kubepair approvals lists them\): 2 wait: #2, #3/m);
      const declineAll = await runKubepair(['decline', '--all'], { env });
      assert.equal(declineAll.code, 0, declineAll.stderr);
      assert.equal(declineAll.stdout, 'request #2 declined\nrequest #3 declined\n');
      for (const [result, name] of [[await second, 'ctl-b'], [await third, 'ctl-c']] as const) {
        assert.equal(result.code, 1);
        assert.match(result.stderr, new RegExp(`Error from server \\(Forbidden\\): kubepair: the sharer declined "delete configmaps default/${name}"`));
        assert.ok(exists(name));
      }
      const unknown = await runKubepair(['decline', '7'], { env });
      assert.equal(unknown.code, 1);
      assert.match(unknown.stderr, /^kubepair: no request with that id waits for the sharer's approval/m);
    } finally {
      await connect.stop('SIGTERM');
      await share.exitedWithin(20_000);
    }
  });

  it('share --approve with neither a terminal nor a control socket refuses to start, exit 2', T, async () => {
    // A runtime directory where the control directory cannot be: a file has its name.
    const runtime = join(stack.dir, 'broken-runtime');
    await mkdir(runtime, { recursive: true, mode: 0o700 });
    await chmod(runtime, 0o700);
    await writeFile(join(runtime, `kubepair-control-${process.getuid?.() ?? 0}`), 'not a directory');
    const share = stack.spawnShare(['--approve'], { XDG_RUNTIME_DIR: runtime });
    const exit = await share.exitedWithin(30_000);
    assert.equal(exit.code, 2, share.stderr());
    assert.match(share.stderr(), /^kubepair: share --approve needs a way to ask the sharer: a terminal, or the share's control socket: standard input is not a terminal and the control socket cannot be opened/m);
    assert.ok(!share.stdout().includes('Pairing code'), 'no code was offered');
  });

  it('share --approve with --policy open or readonly is a usage error, exit 2', T, async () => {
    for (const policy of ['open', 'readonly']) {
      const share = stack.spawnShare(['--approve', '--policy', policy]);
      const exit = await share.exitedWithin(30_000);
      assert.equal(exit.code, 2, `${policy}: ${share.stderr()}`);
      assert.match(share.stderr(), /--approve asks the sharer about requests policy "guarded" refuses for their tier/, policy);
    }
  });
});
