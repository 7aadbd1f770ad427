/**
 * Relay endpoints (docs/design.md §7): https by default, plaintext only to this machine or when
 * told.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isKubepairError } from '../../../src/errors/index.js';
import { isLoopbackHost, resolveRelay } from '../../../src/relay-client/relay-endpoint.js';

describe('Security: relay endpoints', { timeout: 60_000 }, () => {
  it('resolves https and http-to-loopback URLs to API and WebSocket bases', () => {
    assert.deepEqual(resolveRelay({ url: 'https://relay.example.com' }), {
      secure: true,
      httpBase: 'https://relay.example.com',
      wsBase: 'wss://relay.example.com',
      hostname: 'relay.example.com',
    });
    assert.equal(resolveRelay({ url: 'https://relay.example.com:8443/kubepair/' }).wsBase, 'wss://relay.example.com:8443/kubepair');
    assert.equal(resolveRelay({ url: 'http://127.0.0.1:8443' }).wsBase, 'ws://127.0.0.1:8443');
    assert.equal(resolveRelay({ url: 'ws://[::1]:8443' }).httpBase, 'http://[::1]:8443');
    assert.equal(resolveRelay({ url: 'http://localhost:1' }).secure, false);
  });

  it('refuses plaintext to any other host unless insecure is set explicitly', () => {
    for (const url of ['http://relay.example.com', 'ws://10.0.0.5:8443', 'http://[2001:db8::1]', 'http://127.0.0.1.nip.io']) {
      assert.throws(() => resolveRelay({ url }), (err) => isKubepairError(err, 'KP_ERR_RELAY_URL_INSECURE'), url);
    }
    assert.equal(resolveRelay({ url: 'http://relay.example.com', insecure: true }).secure, false);
  });

  it('refuses credentials, queries, fragments, other schemes and malformed tokens', () => {
    for (const url of ['https://user:pass@relay.example.com', 'https://relay.example.com/?token=x', 'https://relay.example.com/#x', 'ftp://relay.example.com', 'relay.example.com']) {
      assert.throws(() => resolveRelay({ url }), (err) => isKubepairError(err, 'KP_ERR_RELAY_URL_INVALID'), url);
    }
    assert.throws(() => resolveRelay({ url: 'https://relay.example.com', token: 'secret' }), (err) => isKubepairError(err, 'KP_ERR_INVALID_ARGUMENT'));
  });

  it('knows loopback hosts', () => {
    for (const host of ['localhost', 'LOCALHOST', '127.0.0.1', '127.8.9.10', '::1', '[::1]', '::ffff:127.0.0.1']) assert.ok(isLoopbackHost(host), host);
    for (const host of ['0.0.0.0', '10.0.0.1', '::', 'example.com', '128.0.0.1', 'localhost.example.com']) assert.ok(!isLoopbackHost(host), host);
  });
});

describe('relay URL mistakes say what to write instead', () => {
  it('a URL without a scheme is KP_ERR_RELAY_URL_INVALID naming https:// (http:// for this machine)', () => {
    const cases: Array<[string, string]> = [
      ['relay.example.com', 'write https://relay.example.com'],
      ['relay.example.com:8443', 'write https://relay.example.com:8443'],
      ['relay.example.com:8443/kp', 'write https://relay.example.com:8443/kp'],
      ['127.0.0.1:8443', 'write http://127.0.0.1:8443'],
      ['localhost:8443', 'write http://localhost:8443'],
      ['[::1]:8443', 'write http://[::1]:8443'],
    ];
    for (const [url, fix] of cases) {
      assert.throws(
        () => resolveRelay({ url }),
        (err) => isKubepairError(err, 'KP_ERR_RELAY_URL_INVALID') && err.message.includes('has no scheme') && err.message.includes(fix),
        `${url}: ${fix}`,
      );
    }
  });
});
