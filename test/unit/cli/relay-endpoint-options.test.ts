/**
 * The relay endpoint share and connect build from options and the environment
 * (src/cli/relay-endpoint-options.ts): CAs added to (not replacing) the default roots, the
 * proxy from HTTPS_PROXY / NO_PROXY, the token from KUBEPAIR_TOKEN or the store, and bad
 * input refused before the keychain is asked.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { rootCertificates } from 'node:tls';
import { describe, it } from 'node:test';
import { relayEndpointFrom } from '../../../src/cli/relay-endpoint-options.js';
import type { RelayTokenStore } from '../../../src/credentials/relay-token-store.js';
import { isKubepairError } from '../../../src/errors/index.js';
import { repoPath } from '../../helpers/paths.js';

const RELAY = 'https://relay.example.com';
const STORED = `kprt_${'s'.repeat(43)}`;
const FROM_ENV = `kprt_${'e'.repeat(43)}`;

function store(tokens: Record<string, string> = {}): { open: () => RelayTokenStore; asked: string[] } {
  const asked: string[] = [];
  const memory: RelayTokenStore = {
    name: 'a memory store',
    get: (origin) => {
      asked.push(origin);
      return Promise.resolve(tokens[origin]);
    },
    set: () => Promise.reject(new Error('not used')),
    delete: () => Promise.reject(new Error('not used')),
  };
  return { open: () => memory, asked };
}

describe('relayEndpointFrom', () => {
  it('--relay-ca and --proxy-ca are added to the default roots, not put in their place', async () => {
    const file = repoPath('test/fixtures/relay-tls/loopback.crt');
    const pem = await readFile(file, 'utf8');
    const endpoint = await relayEndpointFrom({ relay: RELAY, relayCa: file, proxyCa: repoPath('test/fixtures/relay-tls/other.crt') }, { env: {}, store: store().open });
    const ca = String(endpoint.ca);
    assert.ok(ca.includes(pem.trim()), 'the --relay-ca certificate');
    assert.ok(ca.includes((await readFile(repoPath('test/fixtures/relay-tls/other.crt'), 'utf8')).trim()), 'the --proxy-ca certificate');
    assert.ok(ca.includes(rootCertificates[0]!) && ca.includes(rootCertificates.at(-1)!), 'the default roots');
    const plain = await relayEndpointFrom({ relay: RELAY }, { env: {}, store: store().open });
    assert.equal(plain.ca, undefined, 'no CA option at all without the flags: Node uses its defaults');
  });

  it('takes the proxy from HTTPS_PROXY unless NO_PROXY lists the relay', async () => {
    const through = await relayEndpointFrom({ relay: RELAY }, { env: { HTTPS_PROXY: 'http://u:p@proxy.corp:3128' }, store: store().open });
    assert.equal(through.proxy?.label, 'http://proxy.corp:3128');
    const direct = await relayEndpointFrom({ relay: RELAY }, { env: { HTTPS_PROXY: 'http://proxy.corp:3128', NO_PROXY: '.example.com' }, store: store().open });
    assert.equal(direct.proxy, undefined);
  });

  it('token: KUBEPAIR_TOKEN, else the store entry of the relay origin, else none', async () => {
    const withEnv = store({ [RELAY]: STORED });
    assert.equal((await relayEndpointFrom({ relay: `${RELAY}/` }, { env: { KUBEPAIR_TOKEN: FROM_ENV }, store: withEnv.open })).token, FROM_ENV);
    assert.deepEqual(withEnv.asked, []);
    const fromStore = store({ [RELAY]: STORED });
    assert.equal((await relayEndpointFrom({}, { env: { KUBEPAIR_RELAY: `${RELAY}:443/kp` }, store: fromStore.open })).token, STORED);
    assert.deepEqual(fromStore.asked, [RELAY]);
    const none = await relayEndpointFrom({ relay: 'https://other.example.com' }, { env: {}, store: store({ [RELAY]: STORED }).open });
    assert.equal(none.token, undefined);
  });

  it('bad input fails with its own code before the keychain is asked', async () => {
    const cases: Array<[Record<string, unknown>, NodeJS.ProcessEnv, string]> = [
      [{ relay: 'not a url' }, {}, 'KP_ERR_RELAY_URL_INVALID'],
      [{ relay: 'http://relay.example.com' }, {}, 'KP_ERR_RELAY_URL_INSECURE'],
      [{ relay: RELAY }, { HTTPS_PROXY: 'socks5://proxy:1080' }, 'KP_ERR_PROXY_INVALID'],
      [{ relay: RELAY, relayCa: repoPath('package.json') }, {}, 'KP_ERR_INVALID_ARGUMENT'],
    ];
    for (const [options, env, code] of cases) {
      const probe = store({ [RELAY]: STORED });
      await assert.rejects(relayEndpointFrom(options, { env, store: probe.open }), (err) => isKubepairError(err) && err.code === code, code);
      assert.deepEqual(probe.asked, [], `${code}: the keychain was not asked`);
    }
    await assert.rejects(relayEndpointFrom({ relay: RELAY }, { env: { KUBEPAIR_TOKEN: 'hunter2' }, store: store().open }), (err) => {
      assert.ok(isKubepairError(err, 'KP_ERR_INVALID_ARGUMENT'));
      assert.ok(!err.message.includes('hunter2'));
      return true;
    });
  });
});
