/**
 * ClientTunnel sends its pairing request before anything else and does its file system work
 * (the runtime directory, stale kubeconfigs) and the TLS identity while that request runs
 * (issue 15, start-up; docs/performance.md "Start-up"). A failure of that early request ends
 * start() with the relay's coded error as before: nothing rejects unhandled, nothing is written,
 * and no step is announced after the failure. The same through the CLI: exit code and coded
 * error unchanged. Fake relays are plain HTTP servers on 127.0.0.1, port 0.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ClientTunnel } from '../../../src/client/client-tunnel.js';
import type { ErrorCode } from '../../../src/errors/index.js';
import { isKubepairError } from '../../../src/errors/index.js';
import { API_PAIR_PATH } from '../../../src/protocol/relay-api.js';
import { freePort } from '../../helpers/tcp.js';
import { runKubepair } from '../../helpers/cli.js';
import { waitUntil, within } from '../../helpers/wait-until.js';

const STEP_MS = 10_000;
const CODE = { nameplate: '42', secret: '12345678' };


/** An HTTP server on 127.0.0.1 that hands each request to `handle`. */
async function fakeRelay(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: string }> {
  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Unhandled rejections while `work` runs and a few turns of the event loop after it. */
async function unhandledDuring(work: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const onUnhandled = (reason: unknown): void => void seen.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    await work();
    // Let the overlapped work (file system, key generation) finish and any rejection surface.
    for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setTimeout(resolve, 10));
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  return seen;
}

describe('ClientTunnel: a failure of the pairing request, sent before the rest of start', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubepair-early-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const cases: ReadonlyArray<readonly [string, ErrorCode, () => Promise<{ url: string; close(): Promise<void> }>]> = [
    ['a relay that refuses the connection', 'KP_ERR_RELAY_UNREACHABLE', async () => ({ url: `http://127.0.0.1:${await freePort()}`, close: () => Promise.resolve() })],
    [
      'a relay whose pairing answer is not JSON',
      'KP_ERR_RELAY_BAD_RESPONSE',
      async () => {
        const relay = await fakeRelay((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>a portal</html>'));
        return { url: relay.url, close: () => closeServer(relay.server) };
      },
    ],
  ];
  for (const [name, code, startRelay] of cases) {
    it(`${name}: start rejects with ${code}, closed says failed with it, no step after, nothing written, nothing unhandled`, async () => {
      const relay = await startRelay();
      try {
        const tunnel = new ClientTunnel({ relay: { url: relay.url }, code: CODE, kubeconfigDir: dir });
        // runtime_dir may come before the relay's failure (it overlaps the request), never after it.
        const stepsAfterFailure: string[] = [];
        let failed = false;
        tunnel.on('startStep', (step) => {
          if (failed) stepsAfterFailure.push(step);
        });
        const unhandled = await unhandledDuring(async () => {
          await assert.rejects(within(STEP_MS, 'start to fail', tunnel.start()), (err) => isKubepairError(err, code));
          failed = true;
        });
        const end = await tunnel.closed;
        assert.equal(end.kind, 'failed');
        assert.ok(end.kind === 'failed' && end.error.code === code, JSON.stringify(end));
        assert.deepEqual(stepsAfterFailure, [], 'no step is announced once start has failed');
        assert.deepEqual(unhandled, [], 'no unhandled rejection');
        assert.deepEqual(await readdir(dir), [], 'no kubeconfig written');
      } finally {
        await relay.close();
      }
    });
  }

  it('while the relay holds the pairing answer, the runtime directory work is done; close() then ends start with KP_ERR_ABORTED and the tunnel closed', async () => {
    let pairRequests = 0;
    const relay = await fakeRelay((req) => {
      if (req.method === 'POST' && req.url === API_PAIR_PATH) pairRequests++;
      req.resume(); // held: no answer until the server closes
    });
    try {
      const tunnel = new ClientTunnel({ relay: { url: relay.url }, code: CODE, kubeconfigDir: dir });
      const steps: string[] = [];
      tunnel.on('startStep', (step) => steps.push(step));
      const unhandled = await unhandledDuring(async () => {
        const starting = tunnel.start();
        starting.catch(() => undefined); // awaited below, after the waits
        await waitUntil(() => pairRequests === 1 && steps.includes('runtime_dir'), STEP_MS, 'the pairing request at the relay and the runtime directory chosen');
        assert.deepEqual(steps, ['runtime_dir'], 'only the runtime directory is done: the relay has not answered');
        await tunnel.close();
        await assert.rejects(starting, (err) => isKubepairError(err, 'KP_ERR_ABORTED'));
      });
      assert.deepEqual(await tunnel.closed, { kind: 'closed' });
      assert.deepEqual(unhandled, [], 'no unhandled rejection');
      assert.deepEqual(await readdir(dir), [], 'no kubeconfig written');
    } finally {
      await closeServer(relay.server);
    }
  });
});

describe('kubepair connect: the early relay request fails as before', () => {
  let home: string;
  before(async () => {
    home = await mkdtemp(join(tmpdir(), 'kubepair-early-cli-'));
  });
  after(async () => {
    await rm(home, { recursive: true, force: true });
  });

  const env = (): NodeJS.ProcessEnv => ({
    PATH: process.env['PATH'] ?? '',
    HOME: home,
    XDG_CONFIG_HOME: join(home, 'config'),
    XDG_RUNTIME_DIR: join(home, 'run'),
    XDG_STATE_HOME: join(home, 'state'),
    XDG_CACHE_HOME: join(home, 'cache'),
    KUBEPAIR_DEBUG: '1',
  });

  for (const [name, flags, command, exitCode] of [
    ['--no-shell', ['--no-shell'], [], 1],
    ['-- CMD', [], ['--', 'true'], 255],
  ] as const) {
    it(`a relay that refuses the connection, ${name}: exit ${exitCode}, KP_ERR_RELAY_UNREACHABLE in one report, no stack trace, nothing unhandled`, async () => {
      const port = await freePort();
      const result = await runKubepair(['connect', '--relay', `http://127.0.0.1:${port}`, ...flags, '42-1234-5678', ...command], { env: env() });
      assert.equal(result.code, exitCode, result.stderr);
      assert.match(result.stderr, /^kubepair: .*127\.0\.0\.1/m);
      assert.match(result.stderr, /\[debug\] KubepairError KP_ERR_RELAY_UNREACHABLE: /);
      assert.doesNotMatch(result.stderr, /unhandled|\n\s+at /i, 'no unhandled rejection, no stack trace');
    });
  }
});
