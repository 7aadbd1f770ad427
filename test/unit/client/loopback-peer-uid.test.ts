/**
 * Which local user opened a loopback connection (src/client/loopback-peer-uid.ts): address forms,
 * the kernel's socket table format in both byte orders, real connections looked up in this
 * machine's tables, and one read shared by a burst of lookups.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomInt } from 'node:crypto';
import { createServer, connect } from 'node:net';
import type { AddressInfo, NetConnectOpts, Server, Socket } from 'node:net';
import { describe, it } from 'node:test';
import { LoopbackPeerUids, addressBytes, parseSocketTable, peerUids } from '../../../src/client/loopback-peer-uid.js';
import type { SocketTableEntry } from '../../../src/client/loopback-peer-uid.js';

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
      const entries = parseSocketTable(text, littleEndian);
      assert.equal(entries.length, 2);
      assert.deepEqual(entries[0]!.local, { address: addressBytes('127.0.0.1'), port: 51_000 });
      assert.deepEqual(entries[0]!.remote, { address: addressBytes('127.0.0.1'), port: 6443 });
      assert.equal(entries[0]!.uid, 1000);
      assert.deepEqual(entries[1]!.local, { address: addressBytes('::1'), port: 40_001 });
      assert.equal(entries[1]!.uid, 0);
    });
  }

  it('Security: a second user on 127.0.0.2 with the same port as the victim\'s connection is told apart by its address', () => {
    const own = { address: addressBytes('127.0.0.1')!, port: 6443 };
    const victim = { address: addressBytes('127.0.0.1')!, port: 51_000 };
    const attacker = { address: addressBytes('127.0.0.2')!, port: 51_000 };
    const entries: SocketTableEntry[] = [
      { local: own, remote: victim, uid: 1000 }, // our accepted sockets (our uid)
      { local: own, remote: attacker, uid: 1000 },
      { local: victim, remote: own, uid: 1000 },
      { local: attacker, remote: own, uid: 1001 },
    ];
    assert.deepEqual([...peerUids(entries, own, attacker)], [1001]);
    assert.deepEqual([...peerUids(entries, own, victim)], [1000]);
    assert.deepEqual([...peerUids(entries, own, { address: addressBytes('127.0.0.3')!, port: 51_000 })], [], 'gone: no uid');
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

  it('a burst of lookups shares reads, and a lookup made during a read waits for the next one', async () => {
    let reads = 0;
    let release: (() => void) | undefined;
    const tables: string[] = [];
    const reader = async (table: string): Promise<SocketTableEntry[]> => {
      tables.push(table);
      reads++;
      const index = reads;
      await new Promise<void>((resolve) => (release = resolve));
      return [{ local: { address: addressBytes('127.0.0.1')!, port: 1 }, remote: { address: addressBytes('127.0.0.1')!, port: 2 }, uid: index }];
    };
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
    const mapped = { local: { address: addressBytes('127.0.0.1')!, port: 1 }, remote: { address: addressBytes('127.0.0.1')!, port: 2 }, uid: 7 };
    const lookup = new LoopbackPeerUids((table) => {
      tables.push(table);
      return Promise.resolve(table === 'tcp6' ? [mapped] : []);
    });
    assert.deepEqual([...(await lookup.uidsOf({ address: '127.0.0.1', port: 2 }, { address: '127.0.0.1', port: 1 }))], [7]);
    assert.deepEqual(tables, ['tcp', 'tcp6']);
    tables.length = 0;
    assert.equal((await lookup.uidsOf({ address: '::1', port: 2 }, { address: '::1', port: 1 })).size, 0);
    assert.deepEqual(tables, ['tcp6']);
  });
});
