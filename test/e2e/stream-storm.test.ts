/**
 * End to end: many heavy streams at once through real relay, share and connect processes
 * (`share --expose` of a TCP echo target, `connect --forward`): thirty-two connections at once,
 * each moving up to 12 MB both ways, every byte back in order. On Node.js 22 some came back
 * short (a clean end, bytes missing) before splice let the second side of a pair write its
 * tail (src/mux/splice.ts); see docs/performance.md, "Heavy streams at once on Node.js 22".
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import { echoStorm, startEchoServer } from '../helpers/echo-storm.js';
import type { ManagedProcess } from '../helpers/managed-process.js';
import { freePort } from '../helpers/tcp.js';

/** Pairing and the forward port up, in ms. */
const SETUP_MS = 60_000;
/** One stream's next step (taking more bytes, or all of them back), in ms. */
const STREAM_STEP_MS = 60_000;
const STREAMS = 32;

describe('e2e: a storm of heavy streams through relay, share and connect', () => {
  let stack: E2EStack | undefined;
  let echo: Awaited<ReturnType<typeof startEchoServer>> | undefined;
  let share: ManagedProcess | undefined;
  let connect: ManagedProcess | undefined;
  let forwardPort = 0;

  before(async () => {
    echo = await startEchoServer();
    stack = await startE2EStack();
    const shared = await stack.startShare(['--once', '--expose', `echo=127.0.0.1:${echo.port}`]);
    share = shared.process;
    forwardPort = await freePort();
    connect = stack.startConnect(['--no-shell', '--forward', `${forwardPort}:echo`, shared.code]);
    await connect.waitFor(/export KUBECONFIG=(\S+)/, SETUP_MS, 'stdout');
  });

  after(async () => {
    const stopped = await Promise.allSettled([connect?.stop('SIGTERM'), stack?.close(), echo?.close()]);
    for (const result of stopped) if (result.status === 'rejected') throw result.reason;
  });

  it('thirty-two connections at once, each moving up to 12 MB both ways, all come back whole and in order', async () => {
    const carried = await echoStorm(forwardPort, STREAMS, STREAM_STEP_MS).catch((err: unknown) => {
      // What the two ends said is the first thing to read when a stream fails.
      throw new Error(`${String(err)}\n--- connect:\n${connect!.stderr()}\n--- share:\n${share!.stderr()}`, { cause: err });
    });
    assert.equal(carried.length, STREAMS);
    assert.ok(carried.every((bytes) => bytes > 0), 'every stream carried bytes');
    assert.equal(connect!.child.exitCode, null, `connect is still running: ${connect!.stderr()}`);
  });
});
