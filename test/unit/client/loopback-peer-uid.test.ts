/**
 * Which local user opened a loopback connection (src/client/loopback-peer-uid.ts): address forms,
 * the kernel's socket table format in both byte orders, real connections looked up in this
 * machine's tables, and one read shared by a burst of lookups.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { createServer, connect } from 'node:net';
import { endianness } from 'node:os';
import type { AddressInfo, NetConnectOpts, Server, Socket } from 'node:net';
import { describe, it } from 'node:test';
import { LoopbackPeerUids, addressBytes, parseTableLine } from '../../../src/client/loopback-peer-uid.js';
import type { SocketEnd, SocketTableEntry } from '../../../src/client/loopback-peer-uid.js';

/** The 16 bytes as eight full groups (`0000:...`), and as the URL parser writes them (compressed). */
function ipv6Forms(bytes: Buffer): string[] {
  const full = Array.from({ length: 8 }, (_, index) => bytes.readUInt16BE(index * 2).toString(16).padStart(4, '0')).join(':');
  const compressed = new URL(`http://[${full}]/`).hostname.slice(1, -1);
  return [full, compressed, full.toUpperCase()];
}

/** A /proc/net/tcp line for an entry, written as the kernel writes it on a host of the given byte order. */
function tableLine(index: number, local: [Buffer, number], remote: [Buffer, number], uid: number, littleEndian: boolean): string {
  const end = ([address, port]: [Buffer, number]): string => {
    const words: string[] = [];
    for (let offset = 0; offset < address.length; offset += 4) {
      const value = littleEndian ? address.readUInt32LE(offset) : address.readUInt32BE(offset);
      words.push(value.toString(16).toUpperCase().padStart(8, '0'));
    }
    return `${words.join('')}:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  };
  return `  ${index}: ${end(local)} ${end(remote)} 01 00000000:00000000 00:00000000 00000000  ${uid}        0 ${1000 + index} 1 0000000000000000 20 4 30 10 -1`;
}

const HEADER = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';

/** Every entry of a table's text, each line parsed alone: the reference the lookups are checked against. */
function parseAll(text: string, littleEndian = endianness() === 'LE'): SocketTableEntry[] {
  return text.split('\n').flatMap((line) => parseTableLine(line, littleEndian) ?? []);
}

/** The uids of every entry whose local end is `peer` and remote end `own`, by plain comparison. */
function referenceUids(entries: readonly SocketTableEntry[], own: SocketEnd, peer: SocketEnd): number[] {
  const same = (a: SocketEnd, b: SocketEnd): boolean => a.port === b.port && Buffer.compare(a.address, b.address) === 0;
  return [...new Set(entries.filter((entry) => same(entry.local, peer) && same(entry.remote, own)).map((entry) => entry.uid))];
}

function listen(server: Server, host: string): Promise<number> {
  return new Promise((resolve) => server.listen(0, host, () => resolve((server.address() as AddressInfo).port)));
}

function connected(options: NetConnectOpts): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(options, () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('loopback peer uid: addresses', { timeout: 60_000 }, () => {
  it('reads IPv4, IPv4-mapped IPv6 and IPv6 forms of one address as the same bytes', () => {
    assert.deepEqual(addressBytes('127.0.0.1'), addressBytes('::ffff:127.0.0.1'));
    assert.deepEqual(addressBytes('127.0.0.1'), addressBytes('::ffff:7f00:1'));
    assert.deepEqual(addressBytes('::1'), Buffer.from([...new Array<number>(15).fill(0), 1]));
    assert.deepEqual(addressBytes('fe80::1%lo'), addressBytes('fe80::1'));
    assert.equal(addressBytes('localhost'), undefined);
    assert.equal(addressBytes(''), undefined);
  });

  it('writes 1,000 random IPv6 addresses in full, compressed and upper-case forms as their bytes', () => {
    for (let i = 0; i < 1_000; i++) {
      const bytes = randomBytes(16);
      // Runs of zero groups, so that compression has something to do.
      for (let group = randomInt(8), n = randomInt(5); n > 0 && group < 8; group++, n--) bytes.writeUInt16BE(0, group * 2);
      for (const form of ipv6Forms(bytes)) assert.deepEqual(addressBytes(form), bytes, form);
    }
  });
});

describe('loopback peer uid: the socket tables', { timeout: 60_000 }, () => {
  for (const littleEndian of [true, false]) {
    it(`parses tcp and tcp6 lines written on a ${littleEndian ? 'little' : 'big'}-endian host`, () => {
      const v4 = (text: string): Buffer => addressBytes(text)!.subarray(12);
      const text = [
        HEADER,
        tableLine(0, [v4('127.0.0.1'), 51_000], [v4('127.0.0.1'), 6443], 1000, littleEndian),
        tableLine(1, [addressBytes('::1')!, 40_001], [addressBytes('::1')!, 8443], 0, littleEndian),
        '  garbage line',
      ].join('\n');
      const entries = parseAll(text, littleEndian);
      assert.equal(entries.length, 2);
      assert.deepEqual(entries[0]!.local, { address: addressBytes('127.0.0.1'), port: 51_000 });
      assert.deepEqual(entries[0]!.remote, { address: addressBytes('127.0.0.1'), port: 6443 });
      assert.equal(entries[0]!.uid, 1000);
      assert.deepEqual(entries[1]!.local, { address: addressBytes('::1'), port: 40_001 });
      assert.equal(entries[1]!.uid, 0);
    });
  }

  it('Security: a second user on 127.0.0.2 with the same port as the victim\'s connection is told apart by its address', async () => {
    const own = { address: addressBytes('127.0.0.1')!, port: 6443 };
    const victim = { address: addressBytes('127.0.0.1')!, port: 51_000 };
    const attacker = { address: addressBytes('127.0.0.2')!, port: 51_000 };
    const entries: SocketTableEntry[] = [
      { local: own, remote: victim, uid: 1000 }, // our accepted sockets (our uid)
      { local: own, remote: attacker, uid: 1000 },
      { local: victim, remote: own, uid: 1000 },
      { local: attacker, remote: own, uid: 1001 },
    ];
    const text = [HEADER, ...entries.map((entry, index) => tableLine(index, [entry.local.address.subarray(12), entry.local.port], [entry.remote.address.subarray(12), entry.remote.port], entry.uid, endianness() === 'LE'))].join('\n');
    const lookup = new LoopbackPeerUids(async function* (table) {
      await Promise.resolve();
      if (table === 'tcp') yield text;
    });
    const ask = async (address: string): Promise<number[]> => [...(await lookup.uidsOf({ address: '127.0.0.1', port: 6443 }, { address, port: 51_000 }))];
    assert.deepEqual(await ask('127.0.0.2'), [1001]);
    assert.deepEqual(await ask('127.0.0.1'), [1000]);
    assert.deepEqual(await ask('127.0.0.3'), [], 'gone: no uid');
  });

  it('finds this process\'s uid for real loopback connections: IPv4, IPv6, an IPv4-mapped client, two clients on one port of two addresses', async (t) => {
    const lookup = new LoopbackPeerUids();
    const uid = process.getuid!();
    const servers: Server[] = [];
    const sockets: Socket[] = [];
    t.after(async () => {
      for (const socket of sockets) socket.destroy();
      await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    });
    const accepted: Socket[] = [];
    const start = async (host: string): Promise<number> => {
      const server = createServer((socket) => accepted.push(socket));
      servers.push(server);
      return listen(server, host);
    };
    const v4 = await start('127.0.0.1');
    const v6 = await start('::1');
    sockets.push(await connected({ host: '127.0.0.1', port: v4 }));
    sockets.push(await connected({ host: '::1', port: v6 }));
    sockets.push(await connected({ host: '::ffff:127.0.0.1', port: v4, family: 6 }));
    const shared = sockets[0]!.localPort!;
    sockets.push(await connected({ host: '127.0.0.1', port: v4, localAddress: '127.0.0.2', localPort: shared }));
    for (const socket of sockets) {
      const found = await lookup.uidsOf({ address: socket.remoteAddress!, port: socket.remotePort! }, { address: socket.localAddress!, port: socket.localPort! });
      assert.deepEqual([...found], [uid], `${socket.localAddress}:${socket.localPort} -> ${socket.remoteAddress}:${socket.remotePort}`);
    }
    const gone = await lookup.uidsOf({ address: '127.0.0.1', port: v4 }, { address: '127.0.0.3', port: shared });
    assert.equal(gone.size, 0);
  });

  /** The text of a table holding `entries`, as the kernel writes it on this host. */
  const tableText = (entries: readonly SocketTableEntry[]): string =>
    [HEADER, ...entries.map((entry, index) => tableLine(index, [short(entry.local.address), entry.local.port], [short(entry.remote.address), entry.remote.port], entry.uid, endianness() === 'LE'))].join('\n') + '\n';
  /** An IPv4 table's 4-byte address from the 16-byte form. */
  const short = (address: Buffer): Buffer => address.subarray(12);
  const end = (address: string, port: number): SocketEnd => ({ address: addressBytes(address)!, port });

  it('a burst of lookups shares reads, and a lookup made during a read waits for the next one', async () => {
    let reads = 0;
    let release: (() => void) | undefined;
    const tables: string[] = [];
    async function* reader(table: string): AsyncGenerator<string> {
      tables.push(table);
      reads++;
      const index = reads;
      await new Promise<void>((resolve) => (release = resolve));
      yield tableText([{ local: end('127.0.0.1', 1), remote: end('127.0.0.1', 2), uid: index }]);
    }
    const lookup = new LoopbackPeerUids(reader);
    const ask = (): Promise<Set<number>> => lookup.uidsOf({ address: '127.0.0.1', port: 2 }, { address: '127.0.0.1', port: 1 });
    const first = Array.from({ length: 50 }, ask);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(reads, 1, 'fifty lookups, one read');
    const during = Array.from({ length: 50 }, ask);
    release!();
    for (const answer of await Promise.all(first)) assert.deepEqual([...answer], [1]);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(reads, 2, 'the lookups made during the first read share a second one');
    release!();
    for (const answer of await Promise.all(during)) assert.deepEqual([...answer], [2], 'answered from a read that started after they were made');
    assert.deepEqual(tables, ['tcp', 'tcp'], 'found in the IPv4 table: the IPv6 one is not read');
  });

  it('reads the IPv6 table only when an IPv4 listener\'s peer is not in the IPv4 one, and only it for an IPv6 listener', async () => {
    const tables: string[] = [];
    const mapped = { local: end('127.0.0.1', 1), remote: end('127.0.0.1', 2), uid: 7 };
    const lookup = new LoopbackPeerUids(async function* (table) {
      tables.push(table);
      await Promise.resolve();
      yield table === 'tcp6' ? tableText([mapped]).replaceAll(/ ([0-9A-F]{8}):/g, (_, word: string) => ` 0000000000000000${endianness() === 'LE' ? 'FFFF0000' : '0000FFFF'}${word}:`) : tableText([]);
    });
    assert.deepEqual([...(await lookup.uidsOf({ address: '127.0.0.1', port: 2 }, { address: '127.0.0.1', port: 1 }))], [7]);
    assert.deepEqual(tables, ['tcp', 'tcp6']);
    tables.length = 0;
    assert.equal((await lookup.uidsOf({ address: '::1', port: 2 }, { address: '::1', port: 1 })).size, 0);
    assert.deepEqual(tables, ['tcp6']);
  });

  it('a read stops at the piece holding the last of its lookups\' peers: the rest of the table, and its end-of-file read, are not asked for', async () => {
    const entries = Array.from({ length: 100 }, (_, index) => ({ local: end('127.0.0.1', 10_000 + index), remote: end('127.0.0.1', 6443), uid: 1000 + index }));
    const text = tableText(entries);
    const lines = text.split('\n');
    const pieces = Array.from({ length: 10 }, (_, index) => lines.slice(index * 10 + (index === 0 ? 0 : 1), index * 10 + 11).join('\n') + '\n');
    let asked = 0;
    let closed = 0;
    const lookup = new LoopbackPeerUids(async function* () {
      try {
        for (const piece of pieces) {
          asked++;
          await Promise.resolve();
          yield piece;
        }
        asked++; // the end-of-file read
      } finally {
        closed++;
      }
    });
    const ask = (port: number): Promise<Set<number>> => lookup.uidsOf({ address: '127.0.0.1', port: 6443 }, { address: '127.0.0.1', port });
    const [early, later] = await Promise.all([ask(10_005), ask(10_034)]);
    assert.deepEqual([...early], [1005]);
    assert.deepEqual([...later], [1034]);
    assert.equal(asked, 4, 'the peer of the later lookup is in the fourth piece: nothing after it was read');
    assert.equal(closed, 1, 'the table was closed');
    asked = 0;
    assert.equal((await ask(20_000)).size, 0, 'a peer that is gone');
    assert.equal(asked, 11 * 2, 'a peer not there reads both tables to their end');
  });

  it('storm: pieces cut anywhere, decoys on the same port and address, batches of lookups: every answer is the whole table\'s answer', async () => {
    const rounds = 200;
    for (let round = 0; round < rounds; round++) {
      const own = end('127.0.0.1', 1 + randomInt(65_535));
      const entries: SocketTableEntry[] = [];
      const used = new Set<string>();
      // Distinct 4-tuples, as the kernel lists them; decoys share a peer's address and port.
      for (let index = 0; index < 1 + randomInt(300); index++) {
        const address = `127.0.0.${1 + randomInt(3)}`;
        const port = 1 + randomInt(40);
        // Most are peers of `own`; some are `own`'s accepted sockets (reversed), some peers of another listener.
        const kind = randomInt(6);
        const local = kind === 0 ? own : end(address, port);
        const remote = kind === 0 ? end(address, port) : kind === 1 ? end('127.0.0.1', own.port === 65_535 ? 1 : own.port + 1) : own;
        const key = `${local.address.toString('hex')}:${local.port}-${remote.address.toString('hex')}:${remote.port}`;
        if (used.has(key)) continue;
        used.add(key);
        entries.push({ local, remote, uid: randomInt(5) });
      }
      const text = tableText(entries);
      const cuts = [...new Set(Array.from({ length: randomInt(20) }, () => randomInt(text.length)))].sort((a, b) => a - b);
      const pieces = [0, ...cuts].map((at, index) => text.slice(at, [...cuts, text.length][index]));
      const lookup = new LoopbackPeerUids(async function* (table) {
        if (table === 'tcp6') return;
        for (const piece of pieces) {
          await Promise.resolve();
          yield piece;
        }
      });
      const peers = Array.from({ length: 1 + randomInt(8) }, () => end(`127.0.0.${1 + randomInt(3)}`, 1 + randomInt(40)));
      const answers = await Promise.all(peers.map((peer) => lookup.uidsOf({ address: '127.0.0.1', port: own.port }, { address: `127.0.0.${peer.address[15]}`, port: peer.port })));
      peers.forEach((peer, index) => assert.deepEqual([...answers[index]!], referenceUids(parseAll(text), own, peer), `round ${round}, peer ${index}`));
    }
  });

  it('finds the peers of 400 real connections, whose table takes many reads', async (t) => {
    const server = createServer(() => undefined);
    const sockets: Socket[] = [];
    t.after(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    });
    const port = await listen(server, '127.0.0.1');
    for (let index = 0; index < 400; index++) sockets.push(await connected({ host: '127.0.0.1', port }));
    const lookup = new LoopbackPeerUids();
    const chosen = [sockets[0]!, sockets[199]!, sockets[399]!];
    const answers = await Promise.all(chosen.map((socket) => lookup.uidsOf({ address: '127.0.0.1', port }, { address: socket.localAddress!, port: socket.localPort! })));
    for (const answer of answers) assert.deepEqual([...answer], [process.getuid!()]);
  });
});
