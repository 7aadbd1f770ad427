/**
 * The relay client through HTTPS proxies (issue 4): a TLS relay process reached through a REAL
 * tinyproxy (its log proves each CONNECT went through it) for the API calls and both
 * WebSockets; NO_PROXY bypass; proxies that refuse the CONNECT (407, 403, 500), that are not
 * there, or that never answer; and a TLS-intercepting proxy whose CA must be trusted.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { isKubepairError } from '../../../src/errors/index.js';
import { parseProxyUrl, proxyForRelay } from '../../../src/relay-client/proxy-settings.js';
import { RelayProxyAgent } from '../../../src/relay-client/proxy-tunnel.js';
import { createSession, openRelaySocket, pair } from '../../../src/relay-client/index.js';
import type { RelayEndpoint, RelaySocket } from '../../../src/relay-client/index.js';
import { freePort } from '../../helpers/tcp.js';
import { INTERCEPTING_PROXY_CA, startInterceptingProxy } from '../../helpers/intercepting-proxy.js';
import { RELAY_TLS_CERT as CERT, RELAY_TLS_KEY as KEY } from '../../helpers/relay-tls-fixtures.js';
import { startRelay, within } from '../../helpers/relay-process.js';
import type { StartedRelay } from '../../helpers/relay-process.js';
import { startTinyproxy } from '../../helpers/tinyproxy.js';
import type { Tinyproxy } from '../../helpers/tinyproxy.js';

const T = { timeout: 60_000 };
/** Well-formed but unknown session id and key: enough to reach the CONNECT. */
const SESSION_ID = 'AAAAAAAAAAAAAAAAAAAAAA';
const SESSION_KEY = 'A'.repeat(43);


function nextFrame(socket: RelaySocket): Promise<string> {
  return within(10_000, 'a frame', new Promise((resolve) => socket.once('message', (frame: Uint8Array) => resolve(Buffer.from(frame).toString()))));
}

describe('relay client through an HTTPS proxy', { timeout: 600_000 }, () => {
  let relay: StartedRelay;
  let ca: string;
  before(async () => {
    relay = await startRelay({ args: ['--rate-limit', '10000', '--tls-cert', CERT, '--tls-key', KEY], logLevel: 'warn' });
    ca = await readFile(CERT, 'utf8');
  });
  after(() => relay.dispose());

  const endpoints = (proxy: RelayEndpoint['proxy']): { agent: RelayEndpoint; client: RelayEndpoint } => ({
    agent: { url: relay.url, token: relay.tokens.agent, ca, proxy },
    client: { url: relay.url, token: relay.tokens.client, ca, proxy },
  });

  /** createSession, the agent socket, pair, the client socket, and a frame each way. */
  async function pairThrough(proxy: RelayEndpoint['proxy']): Promise<void> {
    const { agent: agentEndpoint, client: clientEndpoint } = endpoints(proxy);
    const session = await createSession(agentEndpoint);
    const agent = await openRelaySocket({ endpoint: agentEndpoint, role: 'agent', sessionId: session.sessionId, key: session.agentKey });
    const paired = await pair(clientEndpoint, session.nameplate);
    const client = await openRelaySocket({ endpoint: clientEndpoint, role: 'client', sessionId: paired.sessionId, key: paired.clientKey });
    try {
      const toClient = nextFrame(client);
      agent.send(Buffer.from('agent -> client through the proxy'));
      assert.equal(await toClient, 'agent -> client through the proxy');
      const toAgent = nextFrame(agent);
      client.send(Buffer.from('client -> agent through the proxy'));
      assert.equal(await toAgent, 'client -> agent through the proxy');
    } finally {
      agent.close();
      client.close();
    }
  }

  describe('with tinyproxy', () => {
    let proxy: Tinyproxy;
    before(async () => {
      proxy = await startTinyproxy();
    });
    after(() => proxy.stop());

    it('tunnels createSession, pair and both WebSockets through CONNECT; TLS to the relay stays end to end', T, async () => {
      const before = (await proxy.connects()).length;
      await pairThrough(proxyForRelay(relay.url, { HTTPS_PROXY: proxy.url }));
      const seen = (await proxy.waitForConnects(before + 4)).slice(before);
      assert.deepEqual(seen, Array<string>(4).fill(`127.0.0.1:${relay.port}`), 'two API calls and two WebSockets went through the proxy');
    });

    it('NO_PROXY bypasses the proxy: the relay is reached directly and the proxy log stays as it was', T, async () => {
      for (const noProxy of ['127.0.0.1', `127.0.0.1:${relay.port}`, '*', 'example.com, 127.0.0.1']) {
        const env = { HTTPS_PROXY: proxy.url, NO_PROXY: noProxy };
        assert.equal(proxyForRelay(relay.url, env), undefined, `NO_PROXY=${noProxy}`);
        const before = (await proxy.connects()).length;
        await pairThrough(proxyForRelay(relay.url, env));
        assert.equal((await proxy.connects()).length, before, `NO_PROXY=${noProxy}: no CONNECT`);
      }
      // A NO_PROXY entry for another port does not bypass.
      assert.ok(proxyForRelay(relay.url, { HTTPS_PROXY: proxy.url, NO_PROXY: '127.0.0.1:1' }) !== undefined);
    });

    it('a proxy that cannot reach the relay (500) is a specific error naming the proxy', T, async () => {
      const url = `https://127.0.0.1:${await freePort()}`;
      const endpoint: RelayEndpoint = { url, token: relay.tokens.agent, ca, proxy: parseProxyUrl(proxy.url) };
      await assert.rejects(createSession(endpoint), (err) => {
        assert.ok(isKubepairError(err, 'KP_ERR_PROXY_REFUSED'), String(err));
        assert.match(err.message, new RegExp(`${proxy.url.replace(/[.]/g, '\\.')} answered 500 .*could not reach 127\\.0\\.0\\.1:\\d+`));
        return true;
      });
    });
  });

  describe('Security: a proxy that wants credentials (407)', () => {
    const password = 'pr0xy-s3cret-pw';
    let proxy: Tinyproxy;
    before(async () => {
      proxy = await startTinyproxy({ basicAuth: { user: 'alice', password } });
    });
    after(() => proxy.stop());

    it('without credentials: KP_ERR_PROXY_REFUSED for the API and the WebSocket, naming the proxy and saying what to do', T, async () => {
      const bare = parseProxyUrl(proxy.url);
      const check = (err: unknown): boolean => {
        assert.ok(isKubepairError(err, 'KP_ERR_PROXY_REFUSED'), String(err));
        assert.match(err.message, /answered 407 Proxy Authentication Required: it wants credentials: put them in HTTPS_PROXY/);
        assert.ok(err.message.includes(proxy.url));
        return true;
      };
      await assert.rejects(createSession(endpoints(bare).agent), check);
      await assert.rejects(openRelaySocket({ endpoint: endpoints(bare).agent, role: 'agent', sessionId: SESSION_ID, key: SESSION_KEY }), check);
    });

    it('with credentials in HTTPS_PROXY everything works, and no error or label ever shows the password', T, async () => {
      const withCredentials = proxyForRelay(relay.url, { https_proxy: `http://alice:${password}@127.0.0.1:${proxy.port}` });
      assert.ok(withCredentials !== undefined);
      assert.equal(withCredentials.label, proxy.url);
      assert.ok(!JSON.stringify(withCredentials).includes(password), 'the password is only in the encoded header');
      const before = (await proxy.connects()).length;
      await pairThrough(withCredentials);
      assert.equal((await proxy.waitForConnects(before + 4)).length - before, 4);
      const wrong = parseProxyUrl(`http://alice:not-${password}@127.0.0.1:${proxy.port}`);
      await assert.rejects(createSession(endpoints(wrong).agent), (err) => {
        assert.ok(isKubepairError(err, 'KP_ERR_PROXY_REFUSED'));
        // tinyproxy answers wrong credentials with 401 rather than 407.
        assert.match(err.message, /answered 40[17] .*did not accept the credentials in HTTPS_PROXY/);
        assert.ok(!err.message.includes(password) && !err.message.includes('alice'), 'no credentials in the message');
        return true;
      });
    });
  });

  describe('a proxy whose policy refuses the relay (403)', () => {
    let proxy: Tinyproxy;
    before(async () => {
      proxy = await startTinyproxy({ connectPorts: [1] });
    });
    after(() => proxy.stop());

    it('is KP_ERR_PROXY_REFUSED for the API and the WebSocket', T, async () => {
      const through = parseProxyUrl(proxy.url);
      const check = (err: unknown): boolean => {
        assert.ok(isKubepairError(err, 'KP_ERR_PROXY_REFUSED'), String(err));
        assert.match(err.message, new RegExp(`answered 403 Access violation: its policy does not allow 127\\.0\\.0\\.1:${relay.port}`));
        return true;
      };
      await assert.rejects(createSession(endpoints(through).agent), check);
      await assert.rejects(pair(endpoints(through).client, '1'), check);
      await assert.rejects(openRelaySocket({ endpoint: endpoints(through).client, role: 'client', sessionId: SESSION_ID, key: SESSION_KEY }), check);
    });
  });

  it('a proxy that is not there is KP_ERR_PROXY_UNREACHABLE, not a relay error', T, async () => {
    const gone = parseProxyUrl(`http://127.0.0.1:${await freePort()}`);
    const check = (err: unknown): boolean => {
      assert.ok(isKubepairError(err, 'KP_ERR_PROXY_UNREACHABLE'), String(err));
      assert.match(err.message, /ECONNREFUSED/);
      return true;
    };
    await assert.rejects(createSession(endpoints(gone).agent), check);
    await assert.rejects(openRelaySocket({ endpoint: endpoints(gone).agent, role: 'agent', sessionId: SESSION_ID, key: SESSION_KEY }), check);
  });

  it('a proxy that never answers the CONNECT is given up after the deadline', T, async () => {
    const silent = createServer((socket: Socket) => socket.on('error', () => socket.destroy()));
    const held = new Set<Socket>();
    silent.on('connection', (socket: Socket) => held.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const agent = new RelayProxyAgent(parseProxyUrl(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`), 300);
      const failure = await within(
        10_000,
        'the request to fail',
        new Promise<unknown>((resolve) => {
          const req = request(`${relay.url}/healthz`, { agent, ca }, () => resolve(new Error('answered')));
          req.on('error', resolve);
          req.end();
        }),
      );
      assert.ok(isKubepairError(failure, 'KP_ERR_PROXY_UNREACHABLE'), String(failure));
      assert.match(failure.message, /did not answer CONNECT 127\.0\.0\.1:\d+ within 300 ms/);
    } finally {
      for (const socket of held) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });

  describe('Security: a TLS-intercepting proxy', () => {
    it('is refused until its CA is trusted (the --proxy-ca case), with a hint naming --proxy-ca; then it works', T, async () => {
      const proxy = await startInterceptingProxy(ca);
      try {
        const through = parseProxyUrl(proxy.url);
        await assert.rejects(createSession(endpoints(through).agent), (err) => {
          assert.ok(isKubepairError(err, 'KP_ERR_RELAY_UNREACHABLE'), String(err));
          assert.match(err.message, /through the proxy http:\/\/127\.0\.0\.1:\d+: if it intercepts TLS, trust its CA with --proxy-ca FILE/);
          return true;
        });
        assert.equal(proxy.connects.length, 1, 'the CONNECT reached the intercepting proxy');
        const proxyCa = await readFile(INTERCEPTING_PROXY_CA, 'utf8');
        const trusting = (token: string): RelayEndpoint => ({ url: relay.url, token, ca: ca + proxyCa, proxy: through });
        const session = await createSession(trusting(relay.tokens.agent));
        const agent = await openRelaySocket({ endpoint: trusting(relay.tokens.agent), role: 'agent', sessionId: session.sessionId, key: session.agentKey });
        agent.close();
        assert.equal(proxy.connects.length, 3);
      } finally {
        await proxy.close();
      }
    });
  });
});
