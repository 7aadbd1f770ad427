/**
 * End to end, how share and connect reach a TLS relay (issue 4, docs/design.md §7), with real
 * processes: through a REAL HTTPS proxy (tinyproxy, whose log shows every CONNECT), with the
 * relay token from the OS keychain (gnome-keyring on a private D-Bus session bus), and without
 * any keychain (the environment fallback, and the 401 that follows when there is no token).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readFile } from 'node:fs/promises';
import { runKubepair } from '../helpers/cli.js';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { E2E_RELAY_TLS, startE2EStack } from '../helpers/e2e-stack.js';
import { INTERCEPTING_PROXY_CA, startInterceptingProxy } from '../helpers/intercepting-proxy.js';
import { kubectlSandbox } from '../helpers/kubectl.js';
import { startSecretService } from '../helpers/secret-service.js';
import type { SecretService } from '../helpers/secret-service.js';
import { startTinyproxy } from '../helpers/tinyproxy.js';
import type { Tinyproxy } from '../helpers/tinyproxy.js';

const T = { timeout: 120_000 };

describe('e2e: share and connect reach a TLS relay through a proxy, with keychain tokens', { timeout: 600_000 }, () => {
  let stack: E2EStack;
  let home: Awaited<ReturnType<typeof kubectlSandbox>>;
  before(async () => {
    stack = await startE2EStack({ relayTls: true });
    home = await kubectlSandbox('kubepair-e2e-relay-access-');
  });
  after(async () => {
    await stack.close();
    await home.remove();
  });

  describe('through tinyproxy', () => {
    let proxy: Tinyproxy;
    before(async () => {
      proxy = await startTinyproxy({ basicAuth: { user: 'e2e', password: 'proxy-pw-e2e' } });
    });
    after(() => proxy.stop());

    it('share and connect -- kubectl work through HTTPS_PROXY (with credentials), and every relay connection went through the proxy', T, async () => {
      const proxyEnv = { HTTPS_PROXY: `http://e2e:proxy-pw-e2e@127.0.0.1:${proxy.port}` };
      const relayTarget = `127.0.0.1:${new URL(stack.relayUrl).port}`;
      const before = (await proxy.connects()).length;
      // The library's own debug output is on for share: it must not show the credentials either.
      const share = await stack.startShare(['--once'], { ...proxyEnv, DEBUG: 'https-proxy-agent*' });
      const connect = stack.startConnect([share.code, '--', 'kubectl', 'get', 'namespaces', '-o', 'name'], { ...proxyEnv, HOME: home.dir });
      const result = await connect.exited;
      assert.equal(result.code, 0, connect.stderr());
      assert.match(connect.stdout(), /namespace\/default/);
      const seen = (await proxy.waitForConnects(before + 4)).slice(before);
      assert.deepEqual(seen.slice(0, 4), Array<string>(4).fill(relayTarget), 'share: session + WebSocket; connect: pair + WebSocket');
      await share.process.exited;
      assert.match(share.process.stderr(), /https-proxy-agent Creating `net\.Socket`/, 'the library\'s debug output was on');
      for (const output of [share.process.stdout(), share.process.stderr(), connect.stdout(), connect.stderr()]) {
        assert.ok(!output.includes('proxy-pw-e2e'), 'Security: the proxy password is never printed');
      }
    });

    it('a proxy that refuses (no credentials: 407) stops share with a clear one-line error naming the proxy', T, async () => {
      const share = stack.spawnShare(['--once'], { HTTPS_PROXY: proxy.url });
      const result = await share.exited;
      assert.equal(result.code, 1);
      assert.equal(
        share.stderr().trim(),
        `kubepair: the HTTPS proxy refused to open a tunnel to the relay: ${proxy.url} answered 407 Proxy Authentication Required: it wants credentials: put them in HTTPS_PROXY as http://USER:PASSWORD@HOST:PORT`,
      );
    });

    it('NO_PROXY sends share straight to the relay; an invalid HTTPS_PROXY is bad input (exit 2)', T, async () => {
      const before = (await proxy.connects()).length;
      const share = await stack.startShare(['--once'], { HTTPS_PROXY: proxy.url, NO_PROXY: 'localhost,127.0.0.1' });
      await share.process.stop('SIGTERM');
      assert.equal((await proxy.connects()).length, before, 'no CONNECT');
      const socks = stack.spawnShare(['--once'], { HTTPS_PROXY: 'socks5://127.0.0.1:1080' });
      assert.equal((await socks.exited).code, 2);
      assert.match(socks.stderr(), /^kubepair: the HTTPS proxy setting is invalid: HTTPS_PROXY must be an http:\/\/ proxy URL \(got socks5:\/\/\)/);
    });
  });

  it('Security: behind a TLS-intercepting proxy connect refuses the relay until --proxy-ca names the proxy\'s CA', T, async () => {
    const proxy = await startInterceptingProxy(await readFile(E2E_RELAY_TLS.certFile, 'utf8'));
    try {
      const refused = stack.startConnect(['1-2345-6789'], { HTTPS_PROXY: proxy.url });
      assert.equal((await refused.exited).code, 1);
      assert.match(refused.stderr(), /^kubepair: cannot reach the relay: 127\.0\.0\.1:\d+: .*\(through the proxy http:\/\/127\.0\.0\.1:\d+: if it intercepts TLS, trust its CA with --proxy-ca FILE\)$/m);
      const trusted = stack.startConnect(['--proxy-ca', INTERCEPTING_PROXY_CA, '1-2345-6789'], { HTTPS_PROXY: proxy.url });
      assert.equal((await trusted.exited).code, 1);
      // The relay itself answered (through the proxy): the nameplate is unknown.
      assert.match(trusted.stderr(), /^kubepair: no session with this code: 1-\.\.\. expired, was used already, or was mistyped; ask for a new code$/m);
      assert.equal(proxy.connects.length, 2);
      assert.deepEqual(await stack.kubeconfigsLeft(), []);
    } finally {
      await proxy.close();
    }
  });

  describe('relay tokens', () => {
    let secrets: SecretService;
    before(async () => {
      secrets = await startSecretService();
    });
    after(() => secrets.stop());

    it('share takes the token from the keychain when KUBEPAIR_TOKEN is not set; KUBEPAIR_TOKEN wins when it is', T, async () => {
      const bus = { DBUS_SESSION_BUS_ADDRESS: secrets.address, KUBEPAIR_TOKEN: '' };
      const set = await runKubepair(['token', 'set', '--relay', stack.relayUrl], { env: stack.env('agent', bus), input: stack.tokens.agent });
      assert.equal(set.code, 0, set.stderr);
      const share = await stack.startShare(['--once'], bus);
      await share.process.stop('SIGTERM');
      // The client token in the environment beats the agent token in the keychain: the relay refuses its scope.
      const envWins = stack.spawnShare(['--once'], { DBUS_SESSION_BUS_ADDRESS: secrets.address, KUBEPAIR_TOKEN: stack.tokens.client });
      assert.equal((await envWins.exited).code, 2);
      assert.match(envWins.stderr(), /^kubepair: the relay token does not allow this/);
      // connect takes its token from the keychain too (here: the agent token, which may not pair).
      const connect = stack.startConnect(['1-2345-6789'], bus);
      assert.equal((await connect.exited).code, 2);
      assert.match(connect.stderr(), /^kubepair: the relay token does not allow this/);
      assert.equal((await runKubepair(['token', 'delete', '--relay', stack.relayUrl], { env: stack.env('agent', bus) })).code, 0);
    });

    it('without a keychain share falls back silently (one debug note with KUBEPAIR_DEBUG=1) and the relay\'s 401 says how to give a token', T, async () => {
      const quiet = stack.spawnShare(['--once'], { KUBEPAIR_TOKEN: '' });
      assert.equal((await quiet.exited).code, 2);
      assert.equal(
        quiet.stderr(),
        'kubepair: the relay refused the credentials: kubepair sent no relay token: set KUBEPAIR_TOKEN, or store one with "kubepair token set --relay URL"\n',
      );
      const debug = stack.spawnShare(['--once'], { KUBEPAIR_TOKEN: '', KUBEPAIR_DEBUG: '1' });
      await debug.exited;
      const notes = debug.stderr().split('\n').filter((line) => line.startsWith('kubepair: [debug] '));
      assert.equal(notes.length, 1, debug.stderr());
      assert.match(notes[0]!, /no OS keychain to read a relay token from \(KUBEPAIR_TOKEN is not set either\)/);
      const connect = stack.startConnect(['1-2345-6789'], { KUBEPAIR_TOKEN: '' });
      assert.equal((await connect.exited).code, 2);
      assert.match(connect.stderr(), /^kubepair: the relay refused the credentials: kubepair sent no relay token/);
      assert.deepEqual(await stack.kubeconfigsLeft(), []);
    });
  });
});
