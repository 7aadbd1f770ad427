/** Client addresses: X-Forwarded-For counts only behind a trusted proxy (per-address limits). */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import { ClientAddressResolver, addressLimitKey } from '../../../src/relay/client-address.js';
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

describe('Security: addressLimitKey (what the per-address limits count)', { timeout: 60_000 }, () => {
  it('an IPv4 address is its own key; an IPv6 address counts as its /64, however it is written', () => {
    assert.equal(addressLimitKey('203.0.113.7'), '203.0.113.7');
    assert.equal(addressLimitKey('unknown'), 'unknown');
    const same = [
      '2001:db8:1:2::1',
      '2001:db8:1:2:ffff:ffff:ffff:ffff',
      '2001:0db8:0001:0002:0000:0000:0000:0001',
      '2001:DB8:1:2:a:b:c:d',
      '2001:db8:1:2:0:0:192.0.2.1',
      'fe80::1%eth0'.replace('fe80::1', '2001:db8:1:2::7'),
    ];
    for (const address of same) assert.equal(addressLimitKey(address), '2001:db8:1:2::/64', address);
    assert.equal(addressLimitKey('2001:db8:1:3::1'), '2001:db8:1:3::/64', 'the next /64 is another key');
    assert.equal(addressLimitKey('::1'), '0:0:0:0::/64');
    assert.equal(addressLimitKey('::'), '0:0:0:0::/64');
    assert.equal(addressLimitKey('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
    assert.equal(addressLimitKey('2001:db8::'), '2001:db8:0:0::/64');
    assert.equal(addressLimitKey('1:2:3:4:5:6:7::'), '1:2:3:4::/64');
    assert.equal(addressLimitKey('::2:3:4:5:6:7:8'), '0:2:3:4::/64');
  });

  it('random addresses: two share a key exactly when their first 64 bits are equal (against a BigInt reference)', () => {
    const groupsOf = (value: bigint): string[] => Array.from({ length: 8 }, (_, i) => ((value >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
    /** One of the textual forms of the same address: full, or with its longest run of zeros compressed. */
    const write = (groups: string[], compress: boolean): string => {
      if (!compress) return groups.join(':');
      let best = [-1, 0];
      for (let i = 0; i < 8; ) {
        if (groups[i] !== '0') { i++; continue; }
        let j = i;
        while (j < 8 && groups[j] === '0') j++;
        if (j - i > best[1]!) best = [i, j - i];
        i = j;
      }
      if (best[1]! < 2) return groups.join(':');
      return `${groups.slice(0, best[0]).join(':')}::${groups.slice(best[0]! + best[1]!).join(':')}`;
    };
    const random = (): bigint => {
      let value = 0n;
      // Sparse groups, so zero runs (and so compressed forms) are common.
      for (let i = 0; i < 8; i++) value = (value << 16n) | BigInt(randomInt(10) < 4 ? 0 : randomInt(0x10000));
      return value;
    };
    for (let i = 0; i < 2_000; i++) {
      const a = random();
      const b = randomInt(2) === 0 ? (a & ~0xffffffffffffffffn) | (random() & 0xffffffffffffffffn) : random();
      const keyA = addressLimitKey(write(groupsOf(a), randomInt(2) === 0));
      const keyB = addressLimitKey(write(groupsOf(b), randomInt(2) === 0));
      assert.equal(keyA === keyB, a >> 64n === b >> 64n, `${write(groupsOf(a), false)} / ${write(groupsOf(b), false)}`);
    }
  });
});
