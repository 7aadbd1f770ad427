/**
 * IPv6 group expansion (src/net/ip-address.ts) and its two users, the owner check's address bytes
 * (src/client/loopback-peer-uid.ts `addressBytes`) and the relay's per-address limit key
 * (src/relay/client-address.ts `addressLimitKey`). Before the shared helper each wrote its own
 * expansion; over a storm of random address texts (IPv6 in every form RFC 4291 allows, IPv4,
 * zones, invalid strings) both users answer what those did: the bytes and the /64 key of the
 * groups each text was written from, an IPv4 address as `::ffff:a.b.c.d` bytes and as its own
 * key, nothing else as an address. The expansion is also checked against a second, independent
 * parser (the WHATWG URL host parser).
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { isIP, isIPv6 } from 'node:net';
import { describe, it } from 'node:test';
import { addressBytes } from '../../../src/client/loopback-peer-uid.js';
import { RELAY_IPV6_LIMIT_PREFIX_BITS } from '../../../src/limits.js';
import { ipv6Groups } from '../../../src/net/ip-address.js';
import { addressLimitKey } from '../../../src/relay/client-address.js';

const V4_MAPPED_PREFIX = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);

/** The eight groups of the URL parser's text of an IPv6 address (hex groups, at most one `::`, no IPv4 tail). */
function groupsOfUrlForm(canonical: string): number[] {
  const [left, right] = canonical.split('::') as [string, string | undefined];
  const hexGroups = (part: string): number[] => (part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  if (right === undefined) return hexGroups(left);
  const known = [hexGroups(left), hexGroups(right)] as const;
  return [...known[0], ...Array.from({ length: 8 - known[0].length - known[1].length }, () => 0), ...known[1]];
}

// ---- The storm. ----

/** One address text; `groups` when it was written from eight known groups (a valid IPv6 form). */
interface Sample {
  readonly text: string;
  readonly groups?: readonly number[];
}

const pick = <T>(list: readonly T[]): T => list[randomInt(list.length)]!;

function randomGroups(): number[] {
  switch (randomInt(12)) {
    case 0:
      return [0, 0, 0, 0, 0, 0, 0, 0];
    case 1:
      return [0, 0, 0, 0, 0, 0, 0, 1];
    case 2: // IPv4-mapped
      return [0, 0, 0, 0, 0, 0xffff, randomInt(0x10000), randomInt(0x10000)];
    case 3: // NAT64 well-known prefix
      return [0x64, 0xff9b, 0, 0, 0, 0, randomInt(0x10000), randomInt(0x10000)];
    default:
      // Sparse, so runs of zero groups (what `::` compresses) are common.
      return Array.from({ length: 8 }, () => {
        const r = randomInt(10);
        return r < 4 ? 0 : r < 6 ? randomInt(16) : randomInt(0x10000);
      });
  }
}

/** A group in hex with 0-3 leading zeros, each digit in random case. */
function writeGroup(group: number): string {
  const hex = group.toString(16);
  const padded = hex.padStart(randomInt(hex.length, 5), '0');
  return [...padded].map((digit) => (randomInt(2) === 0 ? digit : digit.toUpperCase())).join('');
}

/** One of the texts RFC 4291 allows for these groups: any zero run (or none) compressed, an IPv4 tail or not. */
function writeAddress(groups: readonly number[]): string {
  const dotted = randomInt(3) === 0;
  const hexCount = dotted ? 6 : 8;
  const parts = groups.slice(0, hexCount).map(writeGroup);
  if (dotted) parts.push(`${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`);
  // Every run of zero groups among the hex groups, maximal or not, may be the one `::` stands for.
  const runs: [number, number][] = [];
  for (let start = 0; start < hexCount; start++) {
    for (let end = start; end < hexCount && groups[end] === 0; end++) runs.push([start, end + 1]);
  }
  if (runs.length === 0 || randomInt(4) === 0) return parts.join(':');
  const [start, end] = pick(runs);
  return `${parts.slice(0, start).join(':')}::${parts.slice(end).join(':')}`;
}

const ZONES = ['%eth0', '%lo', '%1', '%en0.5', '%', '%%', '%a b', '%::1'];

function validSample(): Sample {
  const groups = randomGroups();
  const text = writeAddress(groups);
  return { text: randomInt(4) === 0 ? text + pick(ZONES) : text, groups };
}

function ipv4Text(): string {
  const text = Array.from({ length: 4 }, () => randomInt(256)).join('.');
  return randomInt(4) === 0 ? text + pick(ZONES) : text;
}

/** Strings that are not IP addresses, most of them one slip away from one. */
function invalidText(): string {
  const valid = writeAddress(randomGroups());
  switch (randomInt(14)) {
    case 0:
      return `1:${Array.from({ length: 8 }, () => randomInt(0x10000).toString(16)).join(':')}`; // nine groups
    case 1:
      return `${valid}::1`; // a second `::`, or nine groups
    case 2:
      return valid.replace(/[0-9a-f]+/i, '10000'); // a group too large
    case 3:
      return valid.replace(/[0-9a-f]/i, 'g');
    case 4:
      return ` ${valid}`;
    case 5:
      return `${valid} `;
    case 6:
      return ':::';
    case 7:
      return `::ffff:${randomInt(256, 1000)}.1.2.3`; // an octet too large
    case 8:
      return `::ffff:0${randomInt(1, 10)}.1.2.3`; // a leading zero in an octet
    case 9:
      return `${randomInt(256)}.${randomInt(256)}.${randomInt(256)}.${randomInt(256)}::`; // an IPv4 part not at the end
    case 10:
      return pick(['', 'unknown', 'localhost', '%eth0', '::%', 'fe80::1::', '1.2.3', '1.2.3.4.5', '[::1]']);
    case 11:
      return `${valid}:`;
    default: {
      // Random strings over the characters of addresses: now and then one is valid.
      const alphabet = '0123456789abcdefABCDEF:.%';
      return Array.from({ length: randomInt(1, 24) }, () => alphabet[randomInt(alphabet.length)]).join('');
    }
  }
}

function storm(count: number): Sample[] {
  const samples: Sample[] = [];
  for (let i = 0; i < count; i++) {
    const r = randomInt(10);
    samples.push(r < 6 ? validSample() : r < 8 ? { text: ipv4Text() } : { text: invalidText() });
  }
  return samples;
}

/** The eight groups as the WHATWG URL serializer writes them: lower case, the first longest zero run (of two or more) as `::`. */
function urlForm(groups: readonly number[]): string {
  let best: [number, number] = [-1, 0];
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best[1]) best = [i, j - i];
    i = j;
  }
  const hex = groups.map((group) => group.toString(16));
  if (best[1] < 2) return hex.join(':');
  return `${hex.slice(0, best[0]).join(':')}::${hex.slice(best[0] + best[1]).join(':')}`;
}

const FIXED: readonly string[] = [
  '::',
  '::1',
  '0:0:0:0:0:0:0:0',
  '0000:0000:0000:0000:0000:0000:0000:0001',
  '::ffff:127.0.0.1',
  '::FFFF:7f00:1',
  '::1.2.3.4',
  '::0.0.0.0',
  '64:ff9b::192.0.2.1',
  '1:2:3:4:5:6:1.2.3.4',
  '1:2:3:4:5::1.2.3.4',
  '1::2:3:4:5:6:7',
  '1:2:3:4:5:6:7::',
  '::2:3:4:5:6:7:8',
  'fe80::1%eth0',
  'FE80::1%',
  '2001:DB8:1:2::7%a b',
  '127.0.0.1',
  '127.0.0.1%lo',
  '1:2:3:4::5:6:7:8',
  '1:2:3:4:5:6::1.2.3.4',
  '1::2::3',
  '00001::',
  'localhost',
  'unknown',
  '',
];

describe('IPv6 group expansion: the owner check and the relay limits answer as before', { timeout: 120_000 }, () => {
  it('addressBytes and addressLimitKey: the groups a text was written from, IPv4 as mapped bytes and its own key, nothing else (fixed edge cases and 20,000 random texts)', () => {
    const samples: Sample[] = [...FIXED.map((text) => ({ text })), ...storm(20_000)];
    const seen = { ipv6: 0, ipv4: 0, neither: 0, zoned: 0, dotted: 0, compressed: 0 };
    for (const { text, groups } of samples) {
      const bare = text.split('%', 1)[0]!;
      const family = isIP(bare);
      if (family === 6) seen.ipv6++;
      else if (family === 4) seen.ipv4++;
      else seen.neither++;
      if (family !== 0 && text.includes('%')) seen.zoned++;
      if (family === 6 && bare.includes('.')) seen.dotted++;
      if (family === 6 && bare.includes('::')) seen.compressed++;
      const bytes = addressBytes(text);
      const key = addressLimitKey(text);
      if (family === 4) {
        assert.deepEqual(bytes, Buffer.concat([V4_MAPPED_PREFIX, Buffer.from(bare.split('.').map(Number))]), text);
        assert.equal(key, text, text);
      } else if (family === 6) {
        // The groups it was written from, or (fixed cases) as the URL parser reads them.
        const expected = groups ?? groupsOfUrlForm(new URL(`http://[${bare}]/`).hostname.slice(1, -1));
        assert.deepEqual(bytes, Buffer.from(expected.flatMap((group) => [group >> 8, group & 0xff])), text);
        assert.equal(key, `${expected.slice(0, RELAY_IPV6_LIMIT_PREFIX_BITS / 16).map((group) => group.toString(16)).join(':')}::/${RELAY_IPV6_LIMIT_PREFIX_BITS}`, text);
      } else {
        assert.equal(bytes, undefined, text);
        assert.equal(key, text, text);
      }
    }
    // The storm exercised every kind of text.
    for (const [kind, count] of Object.entries(seen)) assert.ok(count >= 500, `${kind}: ${count}`);
  });

  it('addressBytes gives the groups a random IPv6 text was written from, as the URL parser reads them', () => {
    for (let i = 0; i < 10_000; i++) {
      const { text, groups } = validSample();
      const bare = text.split('%', 1)[0]!;
      assert.ok(isIPv6(bare), `the generator wrote an address isIPv6 rejects: ${text}`);
      const bytes = addressBytes(text);
      assert.ok(bytes !== undefined, text);
      const read = Array.from({ length: 8 }, (_, index) => bytes.readUInt16BE(index * 2));
      assert.deepEqual(read, groups, text);
      assert.equal(new URL(`http://[${bare}]/`).hostname, `[${urlForm(read)}]`, text);
    }
  });

  it('ipv6Groups: exactly the texts isIPv6 accepts (a %zone dropped), read as the groups they were written from and as the URL parser reads them', () => {
    for (const { text } of storm(20_000)) {
      const bare = text.split('%', 1)[0]!;
      const groups = ipv6Groups(text);
      assert.equal(groups !== undefined, isIPv6(bare), `ipv6Groups(${JSON.stringify(text)})`);
      if (groups === undefined) continue;
      assert.equal(groups.length, 8, text);
      assert.ok(groups.every((group) => Number.isInteger(group) && group >= 0 && group <= 0xffff), text);
      assert.equal(new URL(`http://[${bare}]/`).hostname, `[${urlForm(groups)}]`, text);
    }
    for (let i = 0; i < 10_000; i++) {
      const { text, groups } = validSample();
      assert.deepEqual(ipv6Groups(text), groups, text);
    }
    assert.equal(ipv6Groups('127.0.0.1'), undefined, 'IPv4 is not IPv6');
    assert.deepEqual(ipv6Groups('::ffff:127.0.0.1'), [0, 0, 0, 0, 0, 0xffff, 0x7f00, 1]);
    assert.deepEqual(ipv6Groups('fe80::1%eth0'), [0xfe80, 0, 0, 0, 0, 0, 0, 1]);
  });
});
