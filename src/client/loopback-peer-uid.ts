/**
 * Which local user opened a loopback TCP connection to one of connect's listeners (Linux):
 * the kernel's socket tables (`/proc/self/net/tcp`, `/proc/self/net/tcp6`) list every TCP socket
 * of this network namespace with its owner's uid. The peer's socket is the entry whose local
 * address and port are our connection's remote ones and whose remote address and port are our
 * local ones; both addresses are compared, not only the ports, since another user can bind
 * another loopback address (127.0.0.2) to the same port as a victim's connection.
 *
 * Lookups that arrive while a read of the tables is under way wait for the next read and share
 * it, so a flood of connections costs one read per batch, not one per connection.
 */
import { readFile } from 'node:fs/promises';
import { isIPv4 } from 'node:net';
import { endianness } from 'node:os';
import { ipv6Groups } from '../net/ip-address.js';

/** One end of a TCP connection: an address in its 16-byte IPv6 form (IPv4 as `::ffff:a.b.c.d`) and a port. */
export interface SocketEnd {
  readonly address: Buffer;
  readonly port: number;
}

export interface SocketTableEntry {
  readonly local: SocketEnd;
  readonly remote: SocketEnd;
  readonly uid: number;
}

const V4_MAPPED_PREFIX = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);

/** An address as the 16 bytes it is compared by (IPv4 and IPv4-mapped IPv6 alike); undefined if not an IP address. */
export function addressBytes(text: string): Buffer | undefined {
  const bare = text.split('%', 1)[0]!;
  if (isIPv4(bare)) return Buffer.concat([V4_MAPPED_PREFIX, Buffer.from(bare.split('.').map(Number))]);
  const groups = ipv6Groups(bare);
  if (groups === undefined) return undefined;
  const bytes = Buffer.alloc(16);
  groups.forEach((group, index) => bytes.writeUInt16BE(group, index * 2));
  return bytes;
}

/**
 * A table address: the kernel prints each 32-bit word of the address in host byte order
 * (`%08X`), then the port in hex; 8 hex digits for tcp, 32 for tcp6.
 */
function tableEnd(field: string, littleEndian: boolean): SocketEnd | undefined {
  const [hex, portHex] = field.split(':');
  if (hex === undefined || portHex === undefined || !/^[0-9A-Fa-f]+$/.test(hex) || !/^[0-9A-Fa-f]{4}$/.test(portHex)) return undefined;
  if (hex.length !== 8 && hex.length !== 32) return undefined;
  const raw = Buffer.alloc(hex.length / 2);
  for (let word = 0; word < hex.length / 8; word++) {
    const value = parseInt(hex.slice(word * 8, word * 8 + 8), 16);
    if (littleEndian) raw.writeUInt32LE(value, word * 4);
    else raw.writeUInt32BE(value, word * 4);
  }
  return { address: raw.length === 4 ? Buffer.concat([V4_MAPPED_PREFIX, raw]) : raw, port: parseInt(portHex, 16) };
}

/** The entries of one socket table's text (`/proc/net/tcp` or `tcp6`); lines it cannot read are left out. */
export function parseSocketTable(text: string, littleEndian = endianness() === 'LE'): SocketTableEntry[] {
  const entries: SocketTableEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid ...
    if (fields.length < 8) continue;
    const local = tableEnd(fields[1]!, littleEndian);
    const remote = tableEnd(fields[2]!, littleEndian);
    const uid = Number(fields[7]);
    if (local === undefined || remote === undefined || !Number.isSafeInteger(uid) || uid < 0) continue;
    entries.push({ local, remote, uid });
  }
  return entries;
}

function sameEnd(a: SocketEnd, b: SocketEnd): boolean {
  return a.port === b.port && a.address.equals(b.address);
}

/**
 * The uids owning the peer socket of the connection from `peer` to `own` among `entries`: one
 * uid normally; none if the peer is gone; more than one only if the tables are ambiguous.
 */
export function peerUids(entries: readonly SocketTableEntry[], own: SocketEnd, peer: SocketEnd): Set<number> {
  const uids = new Set<number>();
  for (const entry of entries) if (sameEnd(entry.local, peer) && sameEnd(entry.remote, own)) uids.add(entry.uid);
  return uids;
}

/** The kernel's TCP socket tables of this process's network namespace. */
export type SocketTable = 'tcp' | 'tcp6';

/** Reads one socket table; the seam lets tests hand in their own entries. */
export type SocketTableReader = (table: SocketTable) => Promise<SocketTableEntry[]>;

/** One table of this process's network namespace, read and parsed. */
export const readSocketTable: SocketTableReader = async (table) => parseSocketTable(await readFile(`/proc/self/net/${table}`, 'latin1'));

/**
 * Reads of one table, shared: a read that starts after the request, queued behind the read under
 * way, so that every request arriving meanwhile shares the next one.
 */
class SharedReads {
  readonly #read: () => Promise<SocketTableEntry[]>;
  /** The read under way, if any. */
  #current: Promise<SocketTableEntry[]> | undefined;
  /** The read that starts once the current one ends. */
  #next: Promise<SocketTableEntry[]> | undefined;

  constructor(read: () => Promise<SocketTableEntry[]>) {
    this.#read = read;
  }

  fresh(): Promise<SocketTableEntry[]> {
    if (this.#next !== undefined) return this.#next;
    const settled = (this.#current ?? Promise.resolve([])).then(
      () => undefined,
      () => undefined,
    );
    const next = settled.then(() => {
      this.#next = undefined;
      const read = this.#read();
      this.#current = read;
      read.then(
        () => this.#done(read),
        () => this.#done(read),
      );
      return read;
    });
    this.#next = next;
    return next;
  }

  #done(read: Promise<SocketTableEntry[]>): void {
    if (this.#current === read) this.#current = undefined;
  }
}

/**
 * Each read of a table walks the kernel's whole TCP hash table (milliseconds on a machine with
 * much memory, however few sockets are open), so a lookup reads as little as it can: the IPv4
 * table for a connection to an IPv4 listener, and the IPv6 one only when the peer is not there
 * (an IPv6 socket connected to an IPv4-mapped address); the IPv6 table alone for an IPv6 listener.
 */
export class LoopbackPeerUids {
  readonly #tables: Readonly<Record<SocketTable, SharedReads>>;

  constructor(read: SocketTableReader = readSocketTable) {
    this.#tables = { tcp: new SharedReads(() => read('tcp')), tcp6: new SharedReads(() => read('tcp6')) };
  }

  /**
   * The uids owning the peer socket of the connection from `peer` to `own` (addresses as Node
   * reports them), from tables read after this call, so a connection accepted before the call
   * is in them. None if the peer is gone; more than one only if the tables are ambiguous.
   */
  async uidsOf(own: { readonly address: string; readonly port: number }, peer: { readonly address: string; readonly port: number }): Promise<Set<number>> {
    const ownAddress = addressBytes(own.address);
    const peerAddress = addressBytes(peer.address);
    if (ownAddress === undefined || peerAddress === undefined) return new Set();
    const ownEnd = { address: ownAddress, port: own.port };
    const peerEnd = { address: peerAddress, port: peer.port };
    const tables: SocketTable[] = ownAddress.subarray(0, 12).equals(V4_MAPPED_PREFIX) ? ['tcp', 'tcp6'] : ['tcp6'];
    let uids = new Set<number>();
    for (const table of tables) {
      uids = peerUids(await this.#tables[table].fresh(), ownEnd, peerEnd);
      if (uids.size > 0) break;
    }
    return uids;
  }
}
