/**
 * End to end (issue 4): an exposed TCP target reached with `connect --forward`, using a real
 * redis-server from Debian's packages and redis-cli through the tunnel. A client can only
 * reach names the agent offered.
 *
 * Every wait is bounded and names what it waited for; the `after` hook stops whatever `before`
 * got to start, even when `before` failed half-way (a relay left running would keep this file's
 * process alive for good: that was the hang of `npm test` on a loaded machine).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import { startRedis } from '../helpers/redis-server.js';
import type { TestRedis } from '../helpers/redis-server.js';
import { freePort } from '../helpers/tcp.js';

/** For one `connect --forward ... -- redis-cli ...` (pairing, one command, teardown) to exit, in ms. */
const CONNECT_EXIT_TIMEOUT_MS = 90_000;

describe('e2e: --expose / --forward with a real redis-server', () => {
  let stack: E2EStack | undefined;
  let redis: TestRedis | undefined;
  let redisPort = 0;
  before(async () => {
    stack = await startE2EStack();
    redis = await startRedis();
    redisPort = redis.port;
  });
  after(async () => {
    // Both, whatever happened to the other: each stop is bounded and by pid.
    const stopped = await Promise.allSettled([redis?.stop(), stack?.close()]);
    for (const result of stopped) if (result.status === 'rejected') throw result.reason;
  });

  it('redis-cli reaches the exposed redis through the tunnel', async () => {
    const e2e = stack!;
    const share = await e2e.startShare(['--once', '--expose', `cache=127.0.0.1:${redisPort}`]);
    const localPort = await freePort();
    const connect = e2e.startConnect(['--forward', `${localPort}:cache`, share.code, '--', 'redis-cli', '-p', String(localPort), 'SET', 'kubepair', 'through-the-tunnel']);
    const exit = await connect.exitedWithin(CONNECT_EXIT_TIMEOUT_MS);
    assert.equal(exit.code, 0, connect.stderr());
    assert.equal(connect.stdout().trim(), 'OK');
    const share2 = await e2e.startShare(['--once', '--expose', `cache=127.0.0.1:${redisPort}`]);
    const localPort2 = await freePort();
    // The second through a port open to every local user (as ssh -L), the first only to this user.
    const get = e2e.startConnect(['--any-local-user', '--forward', `${localPort2}:cache`, share2.code, '--', 'redis-cli', '-p', String(localPort2), 'GET', 'kubepair']);
    assert.equal((await get.exitedWithin(CONNECT_EXIT_TIMEOUT_MS)).code, 0, get.stderr());
    assert.equal(get.stdout().trim(), 'through-the-tunnel');
    assert.match(share.process.stderr() + share2.process.stderr(), /connected/);
  });

  it('Security: forwarding to a name the agent did not offer fails clearly before anything is dialled', async () => {
    const e2e = stack!;
    const share = await e2e.startShare(['--once', '--expose', `cache=127.0.0.1:${redisPort}`]);
    const localPort = await freePort();
    const connect = e2e.startConnect(['--forward', `${localPort}:postgres`, share.code, '--', 'true']);
    const exit = await connect.exitedWithin(CONNECT_EXIT_TIMEOUT_MS);
    assert.equal(exit.code, 255, 'with -- CMD, a failure of connect itself is 255 (docs/exit-codes.md)');
    assert.match(connect.stderr(), /the agent does not offer that target: "postgres" \(the agent offers: kube-apiserver, cache\)/);
    await share.process.stop('SIGTERM');
  });
});
