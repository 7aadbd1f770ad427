/** Client addresses: X-Forwarded-For counts only behind a trusted proxy (per-address limits). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClientAddressResolver } from '../../../src/relay/client-address.js';
import { parseTrustedProxies } from '../../../src/relay/relay-options.js';

describe('Security: ClientAddressResolver', { timeout: 60_000 }, () => {
  it('without --trust-proxy ignores X-Forwarded-For entirely', () => {
    const resolver = new ClientAddressResolver(undefined);
    assert.equal(resolver.resolve('203.0.113.7', '1.2.3.4'), '203.0.113.7');
    assert.equal(resolver.resolve('::ffff:203.0.113.7', undefined), '203.0.113.7', 'IPv4-mapped addresses are normalised');
    assert.equal(resolver.isTrustedProxy('127.0.0.1'), false);
  });

  it('behind a trusted proxy takes the rightmost untrusted hop', () => {
    const resolver = new ClientAddressResolver(parseTrustedProxies(['10.0.0.0/8']));
    assert.equal(resolver.resolve('10.0.0.2', '198.51.100.9'), '198.51.100.9');
    assert.equal(resolver.resolve('10.0.0.2', '6.6.6.6, 198.51.100.9, 10.0.0.7'), '198.51.100.9', 'a spoofed leftmost entry is ignored');
    assert.equal(resolver.resolve('203.0.113.7', '198.51.100.9'), '203.0.113.7', 'an untrusted peer cannot claim another address');
    assert.equal(resolver.resolve('10.0.0.2', 'not-an-ip'), '10.0.0.2');
    assert.equal(resolver.resolve('10.0.0.2', undefined), '10.0.0.2');
  });
});
