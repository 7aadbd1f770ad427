/**
 * IP address text: the one IPv6 group expansion the roles share. The client's owner check
 * compares addresses as 16 bytes (src/client/loopback-peer-uid.ts `addressBytes`) and the relay
 * counts an IPv6 client by its /64 (src/relay/client-address.ts `addressLimitKey`), and the
 * certificate writer encodes a subjectAltName iPAddress (src/tls/certificate-writer.ts
 * `ipAddressOctets`); all read the text here. A leaf: it imports nothing but node:net, so every layer may use it.
 */
import { isIPv6 } from 'node:net';

/**
 * The eight 16-bit groups of an IPv6 address in any form RFC 4291 allows: `::` expanded,
 * leading zeros and either case, an embedded IPv4 tail (`::ffff:192.0.2.1`, `64:ff9b::192.0.2.1`)
 * as its two groups. A `%zone` is dropped (everything from the first `%`), and the rest must be
 * what node:net's isIPv6 accepts. Undefined for anything else, an IPv4 address included.
 */
export function ipv6Groups(text: string): number[] | undefined {
  const bare = text.split('%', 1)[0]!;
  if (!isIPv6(bare)) return undefined;
  const halves = bare.split('::');
  const groups = (part: string | undefined): number[] => {
    if (part === undefined || part === '') return [];
    return part.split(':').flatMap((group) => {
      if (!group.includes('.')) return [parseInt(group, 16)];
      const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number];
      return [(a << 8) | b, (c << 8) | d];
    });
  };
  const head = groups(halves[0]);
  if (halves.length === 1) return head;
  const tail = groups(halves[1]);
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}
