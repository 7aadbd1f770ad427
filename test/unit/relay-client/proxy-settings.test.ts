/** HTTPS_PROXY / NO_PROXY parsing and matching (src/relay-client/proxy-settings.ts), table by table. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isKubepairError } from '../../../src/errors/index.js';
import { bypassesProxy, parseProxyUrl, proxyForRelay } from '../../../src/relay-client/proxy-settings.js';

describe('parseProxyUrl', () => {
  it('accepts http:// URLs, with or without a port, and a value without a scheme as http://', () => {
    const cases: Array<[string, string]> = [
      ['http://proxy.corp:3128', 'http://proxy.corp:3128'],
      ['http://proxy.corp', 'http://proxy.corp'],
      ['http://proxy.corp:3128/', 'http://proxy.corp:3128'],
      ['proxy.corp:8080', 'http://proxy.corp:8080'],
      ['HTTP://Proxy.Corp:3128', 'http://proxy.corp:3128'],
      ['http://[::1]:3128', 'http://[::1]:3128'],
      ['http://10.0.0.1:3128', 'http://10.0.0.1:3128'],
    ];
    for (const [value, label] of cases) {
      const proxy = parseProxyUrl(value);
      assert.equal(proxy.label, label, value);
      assert.equal(proxy.authorization, undefined, value);
    }
  });

  it('turns credentials into a Basic header, percent-decoded, and keeps them out of the label', () => {
    const proxy = parseProxyUrl('http://al%40ice:p%3Ass%20w@proxy.corp:3128');
    assert.equal(proxy.label, 'http://proxy.corp:3128');
    assert.equal(proxy.authorization, `Basic ${Buffer.from('al@ice:p:ss w').toString('base64')}`);
  });

  it('Security: refuses every scheme but http:// and never repeats the value (it may hold a password)', () => {
    const cases = [
      'https://user:hunter2@proxy.corp:3128',
      'socks5://user:hunter2@proxy.corp:1080',
      'socks://proxy.corp:1080',
      'socks5h://proxy.corp:1080',
      'ftp://proxy.corp',
      'http://user:hunter2@proxy.corp:3128/path',
      'http://user:hunter2@proxy.corp:3128/?q=1',
      'http://user:hunter2@proxy.corp:3128#frag',
      'http://user:%E0%A4%A@proxy.corp:3128',
      'http://',
      'http://us%3Aer:hunter2@proxy.corp',
    ];
    for (const value of cases) {
      assert.throws(
        () => parseProxyUrl(value, 'HTTPS_PROXY'),
        (err) => {
          assert.ok(isKubepairError(err, 'KP_ERR_PROXY_INVALID'), `${value}: ${String(err)}`);
          assert.ok(!err.message.includes('hunter2'), `${value}: no password in the message`);
          assert.match(err.message, /HTTPS_PROXY/, value);
          return true;
        },
        value,
      );
    }
    assert.throws(() => parseProxyUrl('socks5://proxy:1080'), /must be an http:\/\/ proxy URL \(got socks5:\/\/\); kubepair tunnels through a proxy with HTTP CONNECT only/);
  });
});

describe('NO_PROXY matching (bypassesProxy)', () => {
  // [NO_PROXY, relay host, relay port, bypassed?]
  const table: Array<[string, string, number, boolean]> = [
    ['*', 'relay.example.com', 443, true],
    [' * ', 'relay.example.com', 443, true],
    ['example.com', 'example.com', 443, true],
    ['example.com', 'relay.example.com', 443, true],
    ['example.com', 'badexample.com', 443, false],
    ['.example.com', 'relay.example.com', 443, true],
    ['.example.com', 'example.com', 443, true],
    ['*.example.com', 'relay.example.com', 443, true],
    ['EXAMPLE.com', 'Relay.Example.COM', 443, true],
    ['example.com.', 'relay.example.com', 443, true],
    ['example.com', 'relay.example.com.', 443, true],
    ['example.com:443', 'relay.example.com', 443, true],
    ['example.com:8443', 'relay.example.com', 443, false],
    ['example.com:8443', 'relay.example.com', 8443, true],
    ['other.com, example.com', 'relay.example.com', 443, true],
    ['other.com,,  ', 'relay.example.com', 443, false],
    ['', 'relay.example.com', 443, false],
    ['10.1.2.3', '10.1.2.3', 443, true],
    ['10.1.2.3', '110.1.2.3', 443, false],
    ['2.3', '10.1.2.3', 443, false],
    ['10.1.2.3:8443', '10.1.2.3', 8443, true],
    ['10.1.2.3:8443', '10.1.2.3', 443, false],
    ['10.0.0.0/8', '10.1.2.3', 443, false],
    ['::1', '[::1]', 443, true],
    ['[::1]', '[::1]', 443, true],
    ['[::1]:8443', '[::1]', 8443, true],
    ['[::1]:8443', '[::1]', 443, false],
    ['example.com:notaport', 'example.com', 443, false],
    ['example.com:0', 'example.com', 443, false],
    ['<local>', 'relay', 443, false],
    ['localhost', '127.0.0.1', 443, false],
  ];
  for (const [noProxy, host, port, expected] of table) {
    it(`NO_PROXY=${JSON.stringify(noProxy)} ${expected ? 'bypasses' : 'does not bypass'} ${host}:${port}`, () => {
      assert.equal(bypassesProxy(noProxy, host, port), expected);
    });
  }
});

describe('proxyForRelay', () => {
  const proxy = 'http://proxy.corp:3128';

  it('uses the proxy for https:// and wss:// relays only', () => {
    assert.equal(proxyForRelay('https://relay.example.com', { HTTPS_PROXY: proxy })?.label, proxy);
    assert.equal(proxyForRelay('wss://relay.example.com:8443/kp', { HTTPS_PROXY: proxy })?.label, proxy);
    assert.equal(proxyForRelay('http://127.0.0.1:8443', { HTTPS_PROXY: proxy }), undefined);
    assert.equal(proxyForRelay('ws://relay.example.com', { HTTPS_PROXY: proxy }), undefined);
    assert.equal(proxyForRelay('https://relay.example.com', { HTTP_PROXY: proxy, ALL_PROXY: proxy }), undefined);
    assert.equal(proxyForRelay('https://relay.example.com', {}), undefined);
    assert.equal(proxyForRelay('https://relay.example.com', { HTTPS_PROXY: '  ' }), undefined);
  });

  it('reads lowercase first, as curl does, for both variables', () => {
    assert.equal(proxyForRelay('https://relay.example.com', { https_proxy: 'http://lower:1', HTTPS_PROXY: 'http://upper:2' })?.label, 'http://lower:1');
    assert.equal(proxyForRelay('https://relay.example.com', { https_proxy: '', HTTPS_PROXY: 'http://upper:2' })?.label, 'http://upper:2');
    assert.equal(proxyForRelay('https://relay.example.com', { HTTPS_PROXY: proxy, no_proxy: 'example.com', NO_PROXY: 'other.com' }), undefined);
    assert.ok(proxyForRelay('https://relay.example.com', { HTTPS_PROXY: proxy, no_proxy: 'other.com', NO_PROXY: 'example.com' }) !== undefined);
  });

  it('NO_PROXY compares the relay\'s port, 443 when the URL has none', () => {
    assert.equal(proxyForRelay('https://relay.example.com', { HTTPS_PROXY: proxy, NO_PROXY: 'relay.example.com:443' }), undefined);
    assert.ok(proxyForRelay('https://relay.example.com:8443', { HTTPS_PROXY: proxy, NO_PROXY: 'relay.example.com:443' }) !== undefined);
  });

  it('a broken HTTPS_PROXY is an error even for a relay NO_PROXY would bypass', () => {
    assert.throws(() => proxyForRelay('https://relay.example.com', { HTTPS_PROXY: 'socks5://p:1', NO_PROXY: '*' }), (err) => isKubepairError(err, 'KP_ERR_PROXY_INVALID'));
    assert.throws(() => proxyForRelay('https://relay.example.com', { HTTPS_PROXY: `http://${'a'.repeat(9000)}` }), (err) => isKubepairError(err, 'KP_ERR_PROXY_INVALID') && /longer than/.test(err.message));
  });
});
