/**
 * Which local user opened a loopback TCP connection to one of connect's listeners (Linux):
 * the kernel's socket tables (`/proc/self/net/tcp`, `/proc/self/net/tcp6`) list every TCP socket
 * of this network namespace with its owner's uid. The peer's socket is the entry whose local
 * address and port are our connection's remote ones and whose remote address and port are our
 * local ones; both addresses are compared, not only the ports, since another user can bind
 * another loopback address (127.0.0.2) to the same port as a victim's connection.
 *
 * Lookups that arrive while a read of the tables is under way wait for the next read and share
 * it, so a flood of connections costs one read per batch, not one per connection. A read stops
 * at the piece (about a page of lines) that holds the last of its lookups' peers: the kernel
 * lists each 4-tuple once (a socket taking over a TIME_WAIT entry's 4-tuple replaces it under
 * the bucket's lock), so what the rest of the table holds cannot change the answer.
 */
import { open } from 'node:fs/promises';
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

/** The entry of one socket table line, or undefined for the header and lines it cannot read. */
export function parseTableLine(line: string, littleEndian = endianness() === 'LE'): SocketTableEntry | undefined {
  const fields = line.trim().split(/\s+/);
  // sl local_address rem_address st tx:rx tr:when retrnsmt uid ...
  if (fields.length < 8) return undefined;
  const local = tableEnd(fields[1]!, littleEndian);
  const remote = tableEnd(fields[2]!, littleEndian);
  const uid = Number(fields[7]);
  if (local === undefined || remote === undefined || !Number.isSafeInteger(uid) || uid < 0) return undefined;
  return { local, remote, uid };
}

function sameEnd(a: SocketEnd, b: SocketEnd): boolean {
  return a.port === b.port && a.address.equals(b.address);
}

/** Whether `entry` is the peer socket of the connection from `peer` to `own`: its local end is `peer`, its remote end `own`. */
function isPeerEntry(entry: SocketTableEntry, own: SocketEnd, peer: SocketEnd): boolean {
  return sameEnd(entry.local, peer) && sameEnd(entry.remote, own);
}

/** The kernel's TCP socket tables of this process's network namespace. */
export type SocketTable = 'tcp' | 'tcp6';

/**
 * Reads one table as text, piece by piece, in the order the kernel hands it out; a lookup stops
 * reading (returns the iterator) once it has what it needs. The seam lets tests hand in their own.
 */
export type SocketTableReader = (table: SocketTable) => AsyncIterable<string>;

/** Bytes asked for per read; the kernel answers about a page of lines (27) per read whatever is asked. */
const TABLE_READ_BYTES = 64 * 1024;

/** One table of this process's network namespace, as the kernel's reads return it. */
export const readSocketTable: SocketTableReader = async function* (table) {
  const handle = await open(`/proc/self/net/${table}`, 'r');
  try {
    const buffer = Buffer.allocUnsafe(TABLE_READ_BYTES);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) return;
      yield buffer.toString('latin1', 0, bytesRead);
    }
  } finally {
    await handle.close();
  }
};

/** One lookup waiting for a read: the connection's ends, and what it found so far. */
interface Lookup {
  readonly own: SocketEnd;
  readonly peer: SocketEnd;
  /** The text every line naming the peer's socket as its local end holds: `:PORT ` as the kernel prints it (`%04X`). */
  readonly portText: string;
  readonly uids: Set<number>;
  readonly resolve: (uids: Set<number>) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Reads of one table, shared and cut short. A lookup joins the next read, never one under way
 * (which may have passed its socket's place already), so every lookup made while a read runs
 * shares the one after it. A read ends as soon as each of its lookups found its peer: a table is
 * walked from the start on every read call that does not carry on where the last one ended,
 * the end-of-file read included, so reading to the end costs a second walk of the whole table.
 * Only the lines holding a lookup's port are parsed.
 */
class SharedReads {
  readonly #read: () => AsyncIterable<string>;
  readonly #littleEndian = endianness() === 'LE';
  #waiting: Lookup[] = [];
  #running = false;

  constructor(read: () => AsyncIterable<string>) {
    this.#read = read;
  }

  find(own: SocketEnd, peer: SocketEnd): Promise<Set<number>> {
    return new Promise((resolve, reject) => {
      const portText = `:${peer.port.toString(16).toUpperCase().padStart(4, '0')} `;
      this.#waiting.push({ own, peer, portText, uids: new Set(), resolve, reject });
      if (!this.#running) void this.#run();
    });
  }

  async #run(): Promise<void> {
    this.#running = true;
    // Lookups made in the same turn as the first share its read.
    await Promise.resolve();
    while (this.#waiting.length > 0) {
      const batch = this.#waiting;
      this.#waiting = [];
      await this.#scan(batch);
    }
    this.#running = false;
  }

  async #scan(batch: Lookup[]): Promise<void> {
    let open = batch;
    let carried = '';
    try {
      for await (const piece of this.#read()) {
        const text = carried + piece;
        const lastLineEnd = text.lastIndexOf('\n') + 1;
        carried = text.slice(lastLineEnd);
        open = this.#match(text.slice(0, lastLineEnd), open);
        if (open.length === 0) return;
      }
      // A table that does not end in a line end: its last line; whoever is still open found nothing.
      for (const lookup of this.#match(carried, open)) lookup.resolve(lookup.uids);
    } catch (err) {
      for (const lookup of open) lookup.reject(err);
    }
  }

  /** Match whole lines against the open lookups; answers those that found their peer and returns the rest. */
  #match(lines: string, open: Lookup[]): Lookup[] {
    const still: Lookup[] = [];
    for (const lookup of open) {
      for (let at = lines.indexOf(lookup.portText); at >= 0; at = lines.indexOf(lookup.portText, at + 1)) {
        const lineEnd = lines.indexOf('\n', at);
        const entry = parseTableLine(lines.slice(lines.lastIndexOf('\n', at) + 1, lineEnd < 0 ? lines.length : lineEnd), this.#littleEndian);
        if (entry !== undefined && isPeerEntry(entry, lookup.own, lookup.peer)) lookup.uids.add(entry.uid);
      }
      if (lookup.uids.size > 0) lookup.resolve(lookup.uids);
      else still.push(lookup);
    }
    return still;
  }
}

/**
 * Each read of a table walks the kernel's whole TCP hash table (milliseconds on a machine with
 * much memory, however few sockets are open), so a lookup reads as little as it can: the IPv4
 * table for a connection to an IPv4 listener, and the IPv6 one only when the peer is not there
 * (an IPv6 socket connected to an IPv4-mapped address); the IPv6 table alone for an IPv6 listener;
 * and of a table only the pieces up to the one holding the peer's socket.
 */
export class LoopbackPeerUids {
  readonly #tables: Readonly<Record<SocketTable, SharedReads>>;

  constructor(read: SocketTableReader = readSocketTable) {
    this.#tables = { tcp: new SharedReads(() => read('tcp')), tcp6: new SharedReads(() => read('tcp6')) };
  }

  /**
   * The uids owning the peer socket of the connection from `peer` to `own` (addresses as Node
   * reports them), from tables read after this call, so a connection accepted before the call
   * is in them. None if the peer is gone; more than one only if one piece of a table is ambiguous.
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
      uids = await this.#tables[table].find(ownEnd, peerEnd);
      if (uids.size > 0) break;
    }
    return uids;
  }
}
