/**
 * A policy narrowed while requests run (`kubepair session policy`, issue 14; docs/usage.md
 * "Session control"): every request still running is decided again under the new policy, and
 * one it refuses is cut there and then, its `request` record saying why (`cut_by_policy`);
 * a cut exec is told why on its error channel, so kubectl prints the rule that now refuses it;
 * requests the new policy allows go on. Real kubectl through the in-process tunnel against the
 * fixture API server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PolicyHolder, RequestPolicy } from '../../../src/agent/policy/index.js';
import { runKubectl, startKubectl } from '../../helpers/kubectl.js';
import type { RunningKubectl } from '../../helpers/kubectl.js';
import { waitUntil } from '../../helpers/wait-until.js';
import type { InProcessTunnel } from '../../helpers/in-process-tunnel.js';
import { startInProcessTunnel } from '../../helpers/in-process-tunnel.js';

const WAIT_MS = 15_000;

describe('Security: a policy narrowed while requests run cuts those it now refuses', () => {
  const holder = new PolicyHolder(RequestPolicy.create({ mode: 'open' }));
  let tunnel: InProcessTunnel;
  const running: RunningKubectl[] = [];
  before(async () => {
    tunnel = await startInProcessTunnel({ policyHolder: holder });
    const pod = await runKubectl(['run', 'shell', '--image=busybox', '--restart=Never'], tunnel.kubectl);
    assert.equal(pod.code, 0, pod.stderr);
  });
  after(async () => {
    for (const kubectl of running) await kubectl.stop();
    await tunnel.close();
  });

  it('a watch and an exec the new policy refuses are cut and recorded as cut; a watch it allows goes on', async () => {
    holder.replace(RequestPolicy.create({ mode: 'open' }));
    const configmaps = startKubectl(['get', 'configmaps', '--watch', '-o', 'name'], tunnel.kubectl);
    const pods = startKubectl(['get', 'pods', '--watch', '-o', 'name'], tunnel.kubectl);
    const exec = startKubectl(['exec', 'shell', '--', 'sleep', '60'], tunnel.kubectl);
    running.push(configmaps, pods, exec);
    await waitUntil(() => tunnel.api.openStreams().watches >= 2 && tunnel.api.openStreams().execs >= 1, WAIT_MS, 'two watches and an exec open at the API server');
    const before = tunnel.records.length;

    // Narrowed: no more watching ConfigMaps, no exec.
    holder.replace(RequestPolicy.create({ mode: 'open', deny: ['watch configmaps', 'create pods/exec'] }));

    const cutWatch = await tunnel.waitForRecord((r) => r.resource === 'configmaps' && r.verb === 'watch', WAIT_MS);
    assert.match(cutWatch.cut_by_policy ?? '', /--deny "watch configmaps"/);
    assert.equal(cutWatch.decision, 'allow', 'it was allowed when it started');
    const cutExec = await tunnel.waitForRecord((r) => r.subresource === 'exec', WAIT_MS);
    assert.match(cutExec.cut_by_policy ?? '', /--deny "create pods\/exec"/);
    // 101 when the cut came after the API server switched (the usual case); 403 when it came
    // while the agent still waited for the API server's answer (an ordinary Status then).
    assert.ok(cutExec.status === 101 || cutExec.status === 403, `status ${cutExec.status}`);
    // kubectl is told why on the exec's error channel (a Forbidden Status), not only cut.
    // (Before: kubectl printed only "error: unexpected EOF".)
    assert.notEqual(await exec.waitForExit(WAIT_MS), 0, 'the cut exec fails');
    // Cut after the switch: the Status on the error channel. Cut before it: the 403 makes kubectl
    // fall back from WebSocket to SPDY, and that new request is refused by the new policy.
    assert.match(
      exec.stderr(),
      /kubepair: the session's policy changed and now refuses this exec \(--deny "create pods\/exec"\)|kubepair policy "open" refuses "create pods\/exec" \(tier 3\): refused by --deny "create pods\/exec"/,
      exec.stderr(),
    );
    await waitUntil(() => tunnel.api.openStreams().execs === 0, WAIT_MS, 'the exec to be gone at the API server');

    // The pods watch is allowed by the new policy: still open, no record yet.
    assert.equal(tunnel.records.slice(before).some((r) => r.resource === 'pods' && r.verb === 'watch'), false);
    assert.ok(tunnel.api.openStreams().watches >= 1, 'the pods watch is still open');
    const create = await runKubectl(['run', 'late', '--image=busybox', '--restart=Never'], tunnel.kubectl);
    assert.equal(create.code, 0, create.stderr);
    await pods.waitFor((lines) => lines.includes('pod/late'), WAIT_MS);
  });

  it('a new request the narrowed policy refuses is refused as before; widening cuts nothing', async () => {
    holder.replace(RequestPolicy.create({ mode: 'guarded', deny: ['watch configmaps'] }));
    const refused = await runKubectl(['get', 'configmaps', '--watch', '--request-timeout=5s'], tunnel.kubectl);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /watch configmaps/);
    const pods = startKubectl(['get', 'pods', '--watch', '-o', 'name'], tunnel.kubectl);
    running.push(pods);
    await waitUntil(() => tunnel.api.openStreams().watches >= 1, WAIT_MS, 'a pods watch open');
    const count = tunnel.records.length;
    holder.replace(RequestPolicy.create({ mode: 'open' }));
    const create = await runKubectl(['run', 'after-widening', '--image=busybox', '--restart=Never'], tunnel.kubectl);
    assert.equal(create.code, 0, create.stderr);
    await pods.waitFor((lines) => lines.includes('pod/after-widening'), WAIT_MS);
    assert.equal(tunnel.records.slice(count).some((r) => r.cut_by_policy !== undefined), false, 'nothing cut by a wider policy');
  });
});
