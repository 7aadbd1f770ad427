/**
 * End to end (issue 12, docs/design.md §8.1 "Liveness"): a `kubepair share` waiting for a client
 * rides out its relay. Real relay, share and connect processes on 127.0.0.1:
 *
 * - the relay killed (SIGKILL) while a code is on offer and started again on the same address
 *   with its memory store empty: share says in one line that the code is void, one line when
 *   the relay answers again, and offers a new code that a real connect pairs with;
 * - the relay's `/api` rate limit spent (`--rate-limit`), as after "about ten quick sessions"
 *   of the issue: share says it waits the `Retry-After` the relay asked for, then offers a code
 *   instead of exiting;
 * - a relay token the relay refuses (401) cannot get better: share stops at once with its one line.
 *
 * Each test runs its own relay (relay-process.ts, so it can be restarted in place); the e2e stack
 * gives the API server, the kubeconfig and the share/connect environment.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { ERRORS } from '../../src/errors/index.js';
import { RECONNECT_RETRY_AFTER_MAX_MS } from '../../src/limits.js';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import { kubectlSandbox, runKubectl } from '../helpers/kubectl.js';
import type { ManagedProcess } from '../helpers/managed-process.js';
import { createSessionViaApi, startRelay } from '../helpers/relay-process.js';
import type { StartedRelay } from '../helpers/relay-process.js';
import { waitUntil } from '../helpers/wait-until.js';

const T = { timeout: 180_000 };
const CODE = /Pairing code: (\d+-\d{4}-\d{4})/g;

/** The pairing codes a share printed on stdout so far, oldest first. */
function codesOf(share: ManagedProcess): string[] {
  return [...share.stdout().matchAll(CODE)].map((match) => match[1]!);
}

/** share and connect talk to `relay` instead of the stack's own. */
function relayEnv(relay: StartedRelay, role: 'agent' | 'client'): NodeJS.ProcessEnv {
  return { KUBEPAIR_RELAY: relay.url, KUBEPAIR_TOKEN: role === 'agent' ? relay.tokens.agent : relay.tokens.client };
}

describe('e2e: share waits for its relay', { timeout: 600_000 }, () => {
  let stack: E2EStack;
  let home: Awaited<ReturnType<typeof kubectlSandbox>>;
  before(async () => {
    stack = await startE2EStack();
    home = await kubectlSandbox('kubepair-e2e-waits-');
  });
  after(async () => {
    await stack?.close();
    await home?.remove();
  });

  it('the relay killed while a code is on offer and started again on the same address: the old code is void, share waits, offers a new one, and a connect pairs with it', T, async () => {
    let relay = await startRelay({ logLevel: 'warn' });
    let share: { process: ManagedProcess; code: string } | undefined;
    try {
      share = await stack.startShare([], relayEnv(relay, 'agent'));
      const [oldCode] = codesOf(share.process);
      const oldNameplate = oldCode!.split('-')[0]!;

      await relay.stop('SIGKILL');
      const lost = await share.process.waitFor(/kubepair share: lost the relay \((.*)\); the code (\d+)-\.\.\. is void; a new one follows when the relay is back/, 20_000, 'stderr');
      assert.equal(lost[2], oldNameplate, 'the void code is named by its nameplate only');
      // While the relay is down share keeps trying (connection refused) and does not exit.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      assert.equal(share.process.child.exitCode, null, `share is still running:\n${share.process.stderr()}`);

      relay = await startRelay({ restartOf: relay, logLevel: 'warn' });
      await share.process.waitFor(/kubepair share: the relay answers again after [\d.]+ (ms|s|min)[^;]*; a new code follows/, 30_000, 'stderr');
      const sharing = share.process;
      await waitUntil(() => codesOf(sharing).length >= 2, 30_000, 'a second pairing code');
      const newCode = codesOf(share.process)[1]!;
      assert.notEqual(newCode, oldCode, 'a new code, not the old one again');
      const stderr = share.process.stderr();
      assert.equal(stderr.match(/lost the relay/g)?.length, 1, `one line when the relay went away:\n${stderr}`);
      assert.equal(stderr.match(/answers again/g)?.length, 1, `one line when it came back:\n${stderr}`);
      assert.doesNotMatch(stderr, /cannot reach the relay/, 'the outage was announced once, by the lost line');

      // The old code went with the relay's memory: its nameplate is unknown, or (a fresh relay
      // numbers from 1 again) names the new session, whose secret differs: the pairing fails.
      const stale = stack.startConnect(['--no-shell', oldCode!], relayEnv(relay, 'client'));
      assert.equal((await stale.exitedWithin(30_000)).code, 1, stale.stderr());
      assert.match(stale.stderr(), /expired, was used already, or was mistyped; ask for a new code|pairing failed: wrong code/);
      const connect = stack.startConnect(['--no-shell', newCode], relayEnv(relay, 'client'));
      const exported = await connect.waitFor(/export KUBECONFIG=(\S+)/, 30_000, 'stdout');
      const ok = await runKubectl(['get', 'namespaces', '-o', 'name'], { kubeconfig: exported[1]!, home: home.dir });
      assert.equal(ok.code, 0, ok.stderr);
      await connect.stop('SIGTERM');
      const shareExit = await share.process.stop('SIGTERM');
      assert.equal(shareExit.code, 143, share.process.stderr());
      assert.doesNotMatch(share.process.stderr(), /\n\s+at /, 'no stack trace');
    } finally {
      await share?.process.stop('SIGKILL');
      await relay.dispose();
    }
  });

  it('the relay\'s /api rate limit is spent: share waits the Retry-After the relay asked for, in one line, then offers a code', T, async () => {
    const relay = await startRelay({ logLevel: 'warn', args: ['--rate-limit', '3'] });
    let share: ManagedProcess | undefined;
    try {
      // Three quick sessions spend the address's three requests of this minute.
      for (let i = 0; i < 3; i++) await createSessionViaApi(relay);
      share = stack.spawnShare([], relayEnv(relay, 'agent'));
      const waiting = await share.waitFor(/kubepair share: the relay asks to wait \((.*)\); trying again in ([\d.]+) (ms|s|min)/, 30_000, 'stderr');
      assert.match(waiting[1]!, /too many requests to the relay from this address/);
      const waitS = waiting[3] === 's' ? Number(waiting[2]) : waiting[3] === 'min' ? Number(waiting[2]) * 60 : Number(waiting[2]) / 1000;
      assert.ok(waitS > 1 && waitS <= RECONNECT_RETRY_AFTER_MAX_MS / 1000, `waits what the relay asked (the rest of its minute), at most the bound: ${waiting[0]}`);
      assert.equal(codesOf(share).length, 0, 'no code while rate limited');
      assert.equal(share.child.exitCode, null, 'share did not exit on the 429');
      const sharing = share;
      await waitUntil(() => codesOf(sharing).length === 1, RECONNECT_RETRY_AFTER_MAX_MS + 30_000, 'the code after the wait');
      assert.doesNotMatch(share.stderr(), /\n\s+at /, 'no stack trace');
      const exit = await share.stop('SIGTERM');
      assert.equal(exit.code, 143, share.stderr());
    } finally {
      await share?.stop('SIGKILL');
      await relay.dispose();
    }
  });

  it('a relay token the relay refuses cannot get better: share stops at once with its one line (its exit code), no waiting', T, async () => {
    const relay = await startRelay({ logLevel: 'warn' });
    try {
      const wrongToken = `kprt_${randomBytes(32).toString('base64url')}`;
      const share = stack.spawnShare([], { KUBEPAIR_RELAY: relay.url, KUBEPAIR_TOKEN: wrongToken });
      const exit = await share.exitedWithin(30_000);
      assert.equal(exit.code, ERRORS.KP_ERR_RELAY_UNAUTHORIZED.exit, share.stderr());
      assert.match(share.stderr(), new RegExp(`^kubepair: ${ERRORS.KP_ERR_RELAY_UNAUTHORIZED.message}`, 'm'));
      assert.doesNotMatch(share.stderr(), /asks to wait|retrying/);
      assert.doesNotMatch(share.stderr(), /\n\s+at /, 'no stack trace');
    } finally {
      await relay.dispose();
    }
  });
});
