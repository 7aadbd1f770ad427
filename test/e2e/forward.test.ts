/**
 * End to end (issue 4): an exposed TCP target reached with `connect --forward`, using a real
 * redis-server from Debian's packages and redis-cli through the tunnel. A client can only
 * reach names the agent offered.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import type { ManagedProcess } from '../helpers/managed-process.js';
import { startProcess } from '../helpers/managed-process.js';

/** A port that was free a moment ago (the OS picks it; bound and released at once). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

describe('e2e: --expose / --forward with a real redis-server', () => {
  let stack: E2EStack;
  let redis: ManagedProcess;
  let redisPort = 0;
  before(async () => {
    stack = await startE2EStack();
    redisPort = await freePort();
    redis = startProcess('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { PATH: process.env['PATH'] ?? '' });
    await redis.waitFor(/Ready to accept connections/, 10_000);
  });
  after(async () => {
    await redis.stop('SIGTERM');
    await stack.close();
  });

  it('redis-cli reaches the exposed redis through the tunnel', async () => {
    const share = await stack.startShare(['--once', '--expose', `cache=127.0.0.1:${redisPort}`]);
    const localPort = await freePort();
    const connect = stack.startConnect(['--forward', `${localPort}:cache`, share.code, '--', 'redis-cli', '-p', String(localPort), 'SET', 'kubepair', 'through-the-tunnel']);
    const exit = await connect.exited;
    assert.equal(exit.code, 0, connect.stderr());
    assert.equal(connect.stdout().trim(), 'OK');
    const share2 = await stack.startShare(['--once', '--expose', `cache=127.0.0.1:${redisPort}`]);
    const localPort2 = await freePort();
    const get = stack.startConnect(['--forward', `${localPort2}:cache`, share2.code, '--', 'redis-cli', '-p', String(localPort2), 'GET', 'kubepair']);
    assert.equal((await get.exited).code, 0, get.stderr());
    assert.equal(get.stdout().trim(), 'through-the-tunnel');
    assert.match(share.process.stderr() + share2.process.stderr(), /connected/);
  });

  it('Security: forwarding to a name the agent did not offer fails clearly before anything is dialled', async () => {
    const share = await stack.startShare(['--once', '--expose', `cache=127.0.0.1:${redisPort}`]);
    const localPort = await freePort();
    const connect = stack.startConnect(['--forward', `${localPort}:postgres`, share.code, '--', 'true']);
    const exit = await connect.exited;
    assert.equal(exit.code, 1);
    assert.match(connect.stderr(), /the agent does not offer that target: "postgres" \(the agent offers: kube-apiserver, cache\)/);
    await share.process.stop('SIGTERM');
  });
});
