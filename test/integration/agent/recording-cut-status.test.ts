/**
 * A session recording that stops mid-session ends the exec (fail closed; docs/audit.md
 * "Recorded sessions"), and kubectl is told why on the exec's error channel (docs/audit.md "Cut
 * sessions") instead of seeing only a lost connection. Real kubectl through the in-process
 * tunnel against the fixture API server; the recording is bounded small and typed input is
 * recorded, so what kubectl sends on stdin stops it, while the command (`sleep`) prints nothing:
 * the agent's bytes to kubectl end a whole frame when the cut comes.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runKubectl } from '../../helpers/kubectl.js';
import type { InProcessTunnel } from '../../helpers/in-process-tunnel.js';
import { startInProcessTunnel } from '../../helpers/in-process-tunnel.js';
import { waitUntil } from '../../helpers/wait-until.js';

const WAIT_MS = 15_000;
/** Far below what the typed lines need as input events. */
const RECORDING_MAX_BYTES = 4096;

describe('Security: an exec whose recording stops mid-session is ended and kubectl is told why', () => {
  let tunnel: InProcessTunnel;
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubepair-recording-cut-'));
    tunnel = await startInProcessTunnel({ recording: { logDirectory: dir, input: true, failOpen: false, maxBytes: RECORDING_MAX_BYTES } });
    const pod = await runKubectl(['run', 'shell', '--image=busybox', '--restart=Never'], tunnel.kubectl);
    assert.equal(pod.code, 0, pod.stderr);
  });
  after(async () => {
    await tunnel.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('the recording reaches its bound on typed input: kubectl exits non-zero naming the failure, nothing more reaches the API server', async () => {
    const line = `${'y'.repeat(99)}\n`;
    const result = await runKubectl(['exec', '-i', 'shell', '--', 'sleep', '30'], { ...tunnel.kubectl, stdin: line.repeat(200), timeoutMs: WAIT_MS });
    assert.notEqual(result.code, 0, 'kubectl sees the session end in failure');
    // (Before: kubectl printed only "error: unexpected EOF".)
    assert.match(
      result.stderr,
      /kubepair: the agent ended this session \(fail closed\): the session recording reached its size limit \(KP_ERR_RECORDING_LIMIT\); the sharer sees why/,
      result.stderr,
    );
    assert.doesNotMatch(result.stderr, /recordings\//, 'the agent\'s paths stay with the sharer');
    const record = await tunnel.waitForRecord((r) => r.subresource === 'exec', WAIT_MS);
    assert.match(record.recording_error ?? '', /size limit/);
    assert.equal(record.status, 101);
    await waitUntil(() => tunnel.api.openStreams().execs === 0, WAIT_MS, 'the exec to be gone at the API server');
  });
});
