/**
 * End to end under a pseudo-terminal (issue 11 §3, "share does not say what it shares" and
 * "the countdown freezes"): a real `kubepair share` in `script`, a real relay and real connect
 * processes. Before anyone connects, share says which context, cluster, API server, mode and
 * policy (in plain words: guarded can read Secrets), relay and session lifetime it shares; its
 * countdown goes on after a failed pairing attempt, and is erased, not left frozen, when a
 * client connects. Each connection a client makes to an `--expose` target is shown on share's
 * screen when it opens and when it closes, with the bytes each way and how long it lasted.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CLI_PATH } from '../helpers/cli.js';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import { startCountingTarget } from '../helpers/counting-target.js';
import { startProcess } from '../helpers/managed-process.js';
import { exchangeTcp, freePort } from '../helpers/tcp.js';
import { waitUntil } from '../helpers/wait-until.js';

const T = { timeout: 90_000 };

/** The same nameplate with another secret: the relay pairs them, the PAKE fails. */
function wrongSecret(code: string): string {
  const [nameplate, first, second] = code.split('-') as [string, string, string];
  return `${nameplate}-${first}-${second.slice(0, -1)}${(Number(second.slice(-1)) + 1) % 10}`;
}

/** How many "expires in" updates the screen shows after `from`. */
function countdownTicks(screen: string, from: number): number {
  return screen.slice(from).match(/expires in \d+:\d\d if unused/g)?.length ?? 0;
}

describe('e2e: the share screen on a terminal', () => {
  let stack: E2EStack;
  before(async () => {
    stack = await startE2EStack();
  });
  after(() => stack.close());

  it('says what it shares before anyone connects; the countdown goes on after a failed attempt and is erased on connect', T, async () => {
    const args = ['share', '--kubeconfig', stack.agentKubeconfig, '--relay', stack.relayUrl, '--once'].map((arg) => `'${arg}'`).join(' ');
    const share = startProcess('script', ['-qec', `'${process.execPath}' '${CLI_PATH}' ${args}`, '/dev/null'], stack.env('agent'));
    try {
      const match = await share.waitFor(/kubepair connect (\d+-\d{4}-\d{4})/, 60_000, 'stdout');
      const code = match[1]!;
      const screen = share.stdout();
      const before = screen.slice(0, screen.indexOf('Pairing code:'));
      assert.match(before, /context: +\S+/);
      assert.match(before, /cluster: +\S+/);
      assert.match(before, /API: +https:\/\/127\.0\.0\.1:\d+/);
      assert.match(before, /mode: +proxy/);
      assert.match(before, /policy: +guarded \(reads, and CAN READ SECRETS/);
      assert.match(before, new RegExp(`relay: +${stack.relayUrl.replace(/[.:/]/g, '\\$&')}`));
      assert.match(before, /session: +at most 8 h after pairing \(paired now: until (\d{4}-\d\d-\d\d )?\d\d:\d\d\)/);

      const wrong = stack.startConnect(['--no-shell', wrongSecret(code)]);
      await share.waitFor(/pairing attempt 1 of 5 failed/, 60_000, 'stdout');
      await wrong.exited;
      const afterFailure = share.stdout().search(/pairing attempt 1 of 5 failed/);
      await waitUntil(() => countdownTicks(share.stdout(), afterFailure) >= 2, 20_000, 'the countdown to go on after the failed attempt');

      const good = stack.startConnect([code, '--', 'sh', '-c', 'exit 0']);
      try {
        await share.waitFor(/connected; sharing .* until (\d{4}-\d\d-\d\d )?\d\d:\d\d \(in \d+ h/, 60_000, 'stdout');
        assert.equal((await good.exited).code, 0, good.stderr());
        await share.exited;
        const out = share.stdout();
        const connectedAt = out.search(/connected; sharing/);
        // The countdown line was erased (carriage return + erase line) right before, not left frozen.
        assert.ok(out.includes('if unused   \r\u001b[2Kkubepair share: connected; sharing'), out.slice(-600));
        assert.equal(countdownTicks(out, connectedAt), 0, 'no countdown after connecting');
      } finally {
        await good.stop('SIGKILL');
      }
    } finally {
      await share.stop('SIGKILL');
    }
  });

  it('each connection to an --expose target: one line when it opens, one when it closes with the bytes each way and its duration', T, async () => {
    const echo = await startCountingTarget();
    const share = await stack.startShare(['--once', '--expose', `echo=127.0.0.1:${echo.port}`]);
    const localPort = await freePort();
    const connect = stack.startConnect(['--no-shell', '--forward', `${localPort}:echo`, share.code]);
    try {
      await connect.waitFor(/^export KUBECONFIG=/m, 30_000, 'stdout');
      const back = await exchangeTcp(localPort, Buffer.alloc(3000, 'x'), 20_000);
      assert.equal(back.length, 3000, 'the echo came back through the tunnel');
      const opened = await share.process.waitFor(/^ {2}> echo: connection #(\d+) opened$/m, 20_000, 'stderr');
      const closed = new RegExp(`^  < echo: connection #${opened[1]} closed after (\\d+ ms|\\d+\\.\\d s) \\(2\\.9 KiB from the client, 2\\.9 KiB to it\\)$`, 'm');
      await share.process.waitFor(closed, 20_000, 'stderr');
      assert.equal(echo.accepted(), 1);
      assert.ok(share.process.stderr().indexOf(`#${opened[1]} opened`) < share.process.stderr().indexOf(`#${opened[1]} closed`), 'opened before closed');
    } finally {
      await connect.stop('SIGKILL');
      await share.process.stop('SIGKILL');
      await echo.close();
    }
  });
});
