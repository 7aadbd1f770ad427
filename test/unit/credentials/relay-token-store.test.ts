/** The key a relay token is stored under (src/credentials/relay-token-store.ts relayOrigin). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isRelayTokenFormat, relayOrigin } from '../../../src/credentials/relay-token-store.js';
import { isKubepairError } from '../../../src/errors/index.js';

describe('relayOrigin', () => {
  const cases: Array<[string, string]> = [
    ['https://relay.example.com', 'https://relay.example.com'],
    ['https://relay.example.com/', 'https://relay.example.com'],
    ['https://Relay.EXAMPLE.com:443/kp/', 'https://relay.example.com'],
    ['wss://relay.example.com', 'https://relay.example.com'],
    ['https://relay.example.com:8443', 'https://relay.example.com:8443'],
    ['http://127.0.0.1:8443', 'http://127.0.0.1:8443'],
    ['ws://127.0.0.1:8443', 'http://127.0.0.1:8443'],
    ['http://relay.example.com', 'http://relay.example.com'],
    ['https://[::1]:8443', 'https://[::1]:8443'],
  ];
  for (const [url, origin] of cases) {
    it(`${url} -> ${origin}`, () => assert.equal(relayOrigin(url), origin));
  }

  it('refuses what is not a relay URL', () => {
    for (const url of ['relay.example.com', 'ftp://relay.example.com', 'https://user:pw@relay.example.com', 'https://relay.example.com/?x=1']) {
      assert.throws(() => relayOrigin(url), (err) => isKubepairError(err, 'KP_ERR_RELAY_URL_INVALID'), url);
    }
  });
});

describe('isRelayTokenFormat', () => {
  it('accepts kprt_ and 43 base64url characters only', () => {
    assert.equal(isRelayTokenFormat(`kprt_${'A'.repeat(43)}`), true);
    assert.equal(isRelayTokenFormat(`kprt_${'a-_9'.repeat(10)}abc`), true);
    for (const bad of ['', 'kprt_', `kprt_${'A'.repeat(42)}`, `kprt_${'A'.repeat(44)}`, `KPRT_${'A'.repeat(43)}`, `kprt_${'A'.repeat(42)}=`, ` kprt_${'A'.repeat(43)}`]) {
      assert.equal(isRelayTokenFormat(bad), false, JSON.stringify(bad));
    }
  });
});
