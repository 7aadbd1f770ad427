/**
 * The client's local listener (docs/design.md §2, §6): TLS with the per-session CA, a constant-time
 * bearer-token check before any tunnel stream opens, and plain forwarding for raw targets.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { request } from 'node:https';
import { Server, connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { createServer } from 'node:http';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { LocalListener, defaultLocalPeerPolicy } from '../../../src/client/local-listener.js';
import type { LocalListenerOptions, LocalPeerPolicy, OpeningStream } from '../../../src/client/local-listener.js';
import { LoopbackPeerUids } from '../../../src/client/loopback-peer-uid.js';
import { MuxClient, MuxServer } from '../../../src/mux/index.js';
import { bridgeStream } from '../../helpers/stream-bridge.js';
import { CertificateAuthority } from '../../../src/tls/index.js';
import { pairedChannels, within } from '../../helpers/channel-pair.js';
import { waitUntil } from '../../helpers/wait-until.js';

interface Reply {
  status: number;
  body: string;
}

/** The reason and code of the Status in a raw HTTP/1.1 answer (the body after the blank line). */
function statusIn(answer: string): { reason: unknown; code: unknown } {
  const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { kind?: unknown; reason?: unknown; code?: unknown };
  assert.equal(body.kind, 'Status', answer);
  return { reason: body.reason, code: body.code };
}

function get(port: number, ca: string, headers: Record<string, string>): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/version', ca, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** End a listener and the in-memory tunnel behind it: the mux client, the mux server, both channel ends. */
async function closeAll(listener: LocalListener, ...parts: ReadonlyArray<{ close(): unknown }>): Promise<void> {
  await listener.close();
  for (const part of parts) part.close();
}

/** A token-checked listener whose tunnel streams reach a tiny HTTP server standing in for the kube proxy. */
interface TokenListener {
  readonly ca: CertificateAuthority;
  readonly listener: LocalListener;
  readonly port: number;
  /** Ends the listener, the tunnel and the stand-in. */
  close(): Promise<void>;
}

async function startTokenListener(
  token: string,
  options: { onRequest?: (req: IncomingMessage) => void; onOpenStream?: () => void } & Pick<LocalListenerOptions, 'headTimeoutMs' | 'handshakeTimeoutMs' | 'maxUnauthenticated' | 'peers'>,
): Promise<TokenListener> {
  const ca = await CertificateAuthority.create({ commonName: 'kubepair test session CA' });
  const leaf = await ca.issueServerCertificate({ ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'] });
  const { agent, client } = await pairedChannels();
  // On the agent: a tiny HTTP server standing in for the kube proxy, fed by tunnel streams.
  const http = createServer((req, res) => {
    options.onRequest?.(req);
    res.end(JSON.stringify({ gitVersion: 'v1.32.0' }));
  });
  const server = new MuxServer(agent, { targets: new Map([['kube-apiserver', (stream: Duplex) => void http.emit('connection', bridgeStream(stream))]]) });
  const mux = new MuxClient(client);
  const { onRequest: _onRequest, onOpenStream, ...limits } = options;
  const listener = new LocalListener({
    security: { kind: 'tls-token', certPem: leaf.certPem, keyPem: leaf.keyPem, token },
    target: 'kube-apiserver',
    beginStream: (target) => {
      onOpenStream?.();
      return Promise.resolve(mux.beginStream(target));
    },
    ...limits,
  });
  const port = await listener.listen();
  return {
    ca,
    listener,
    port,
    close: () => closeAll(listener, mux, server, agent, client),
  };
}

describe('local listener', () => {
  const token = randomBytes(32).toString('base64url');
  let ca: CertificateAuthority;
  let port = 0;
  let streamsOpened = 0;
  let started: TokenListener | undefined;
  const seenByAgent: string[] = [];

  before(async () => {
    started = await startTokenListener(token, {
      onRequest: (req) => seenByAgent.push(`${req.method} ${req.url} auth=${req.headers.authorization === `Bearer ${token}` ? 'token' : 'none'}`),
      onOpenStream: () => streamsOpened++,
      headTimeoutMs: 500,
    });
    ({ ca, port } = started);
  });
  after(async () => {
    await started?.close();
  });

  it('the right token reaches the agent through a tunnel stream', async () => {
    const reply = await within(get(port, ca.certPem, { authorization: `Bearer ${token}` }), 5000, 'request');
    assert.equal(reply.status, 200);
    assert.deepEqual(JSON.parse(reply.body), { gitVersion: 'v1.32.0' });
    assert.deepEqual(seenByAgent, ['GET /version auth=token']);
  });

  const refusals: Array<[string, Record<string, string>]> = [
    ['no token', {}],
    ['a wrong token', { authorization: `Bearer ${randomBytes(32).toString('base64url')}` }],
    ['a token one character short', { authorization: `Bearer ${token.slice(0, -1)}` }],
    ['basic auth', { authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }],
  ];
  for (const [name, headers] of refusals) {
    it(`Security: ${name} gets a 401 Status and opens no stream`, async () => {
      const before = streamsOpened;
      const reply = await within(get(port, ca.certPem, headers), 5000, name);
      assert.equal(reply.status, 401);
      assert.equal((JSON.parse(reply.body) as { kind: string }).kind, 'Status');
      assert.equal(streamsOpened, before, 'no tunnel stream was opened');
    });
  }

  it('Security: a repeated Authorization header is refused', async () => {
    const before = streamsOpened;
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: ca.certPem, servername: 'localhost' });
    socket.write(`GET /version HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    let text = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    await within(new Promise((resolve) => socket.on('close', resolve)), 5000, 'close');
    assert.match(text, /^HTTP\/1\.1 401 Unauthorized\r\n/);
    assert.deepEqual(statusIn(text), { reason: 'Unauthorized', code: 401 });
    assert.equal(streamsOpened, before);
  });

  it('Security: a client that never finishes its head is cut off at the deadline', async () => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: ca.certPem, servername: 'localhost' });
    socket.write('GET /version HTTP/1.1\r\nHost: x\r\n');
    let text = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    await within(new Promise((resolve) => socket.on('close', resolve)), 5000, 'deadline');
    assert.match(text, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.deepEqual(statusIn(text), { reason: 'Timeout', code: 408 }, 'the Status reason kube-apiserver pairs with 408');
  });

  it('Security: an oversized head is refused without buffering it all', async () => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca: ca.certPem, servername: 'localhost' });
    socket.on('error', () => undefined);
    socket.write(`GET /version HTTP/1.1\r\nX-Pad: ${'a'.repeat(40 * 1024)}\r\n`);
    let text = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    await within(new Promise((resolve) => socket.on('close', resolve)), 5000, 'oversize');
    assert.match(text, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    assert.deepEqual(statusIn(text), { reason: 'BadRequest', code: 431 });
  });

  it('Security: a client that does not trust the session CA cannot complete TLS', async () => {
    const other = await CertificateAuthority.create({ commonName: 'someone else' });
    await assert.rejects(get(port, other.certPem, { authorization: `Bearer ${token}` }), /self-signed|unable to verify|certificate/i);
  });

  it('refuses to bind a non-loopback address', () => {
    assert.throws(
      () => new LocalListener({ host: '0.0.0.0', security: { kind: 'plain' }, target: 'x', beginStream: () => Promise.reject(new Error('x')) }),
      { code: 'KP_ERR_INVALID_ARGUMENT' },
    );
  });
});

describe('local listener, plain mode', () => {
  it('pipes raw bytes to the target both ways', async () => {
    const { agent, client } = await pairedChannels();
    const server = new MuxServer(agent, { targets: new Map([['redis', (stream: Duplex) => void stream.pipe(stream)]]) });
    const mux = new MuxClient(client);
    const listener = new LocalListener({ security: { kind: 'plain' }, target: 'redis', beginStream: (t) => Promise.resolve(mux.beginStream(t)) });
    const port = await listener.listen();
    const socket = netConnect({ host: '127.0.0.1', port });
    const payload = randomBytes(200_000);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.end(payload);
    await within(new Promise((resolve) => socket.on('end', resolve)), 5000, 'echo');
    assert.ok(Buffer.concat(chunks).equals(payload));
    await closeAll(listener, mux, server, agent, client);
  });
});

describe('local listener, socket options', () => {
  it("accepts connections with Nagle's algorithm off, in both modes (no first answer held for the client's delayed ACK)", async (t) => {
    // A spy: every call still reaches the real listen().
    const listen = t.mock.method(Server.prototype, 'listen');
    const ca = await CertificateAuthority.create({ commonName: 'kubepair test session CA' });
    const leaf = await ca.issueServerCertificate({ ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'] });
    const beginStream = (): Promise<OpeningStream> => Promise.reject(new Error('not used'));
    const listeners = [
      new LocalListener({ security: { kind: 'tls-token', certPem: leaf.certPem, keyPem: leaf.keyPem, token: 'x'.repeat(43) }, target: 'kube-apiserver', beginStream }),
      new LocalListener({ security: { kind: 'plain' }, target: 'db', beginStream }),
    ];
    try {
      for (const listener of listeners) await listener.listen();
      const servers = listen.mock.calls.map((call) => call.this as Server & { noDelay?: boolean });
      assert.equal(servers.length, 2);
      // net.Server applies its noDelay to every connection it accepts (TCP_NODELAY).
      assert.deepEqual(servers.map((server) => server.noDelay), [true, true]);
    } finally {
      for (const listener of listeners) await listener.close();
    }
  });
});

describe('Security: local connections without the token are bounded (another local user cannot use up connect\'s file descriptors)', () => {
  const MAX = 8;
  const token = randomBytes(32).toString('base64url');
  let ca: CertificateAuthority;
  let port = 0;
  let started: TokenListener | undefined;
  const refused: string[] = [];
  const opened: Array<{ socket: Socket | TLSSocket; closed: boolean }> = [];

  /** A client socket the test tracks until it closes; its 'error' is expected (the listener cuts it). */
  function track<T extends Socket | TLSSocket>(socket: T): { socket: T; closed: boolean } {
    const entry = { socket, closed: false };
    socket.on('error', () => undefined);
    socket.once('close', () => (entry.closed = true));
    opened.push(entry);
    return entry;
  }

  /** A TLS connection that finishes its handshake and then says nothing. */
  async function silentTls(): Promise<{ socket: TLSSocket; closed: boolean }> {
    const entry = track(tlsConnect({ host: '127.0.0.1', port, ca: ca.certPem, servername: 'localhost' }));
    await within(new Promise<void>((resolve) => entry.socket.once('secureConnect', () => resolve()).once('close', () => resolve())), 5000, 'TLS handshake');
    return entry;
  }

  /** A TCP connection that never starts TLS. */
  async function silentTcp(): Promise<{ socket: Socket; closed: boolean }> {
    const entry = track(netConnect({ host: '127.0.0.1', port }));
    await within(new Promise<void>((resolve) => entry.socket.once('connect', () => resolve()).once('close', () => resolve())), 5000, 'TCP connect');
    return entry;
  }

  /** A kubectl-like connection: shows the token, gets its answer, stays open (keep-alive). */
  async function authenticated(): Promise<{ socket: TLSSocket; closed: boolean }> {
    const entry = track(tlsConnect({ host: '127.0.0.1', port, ca: ca.certPem, servername: 'localhost' }));
    let text = '';
    entry.socket.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    entry.socket.write(`GET /version HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    await waitUntil(() => text.includes('gitVersion') || entry.closed, 5000, 'the answer to an authenticated request');
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
    return entry;
  }

  before(async () => {
    // Any local user: every connection's owner is known within the turn it is accepted in, so the
    // bound closes strictly the oldest (which connections go first when owners are still being
    // looked up is the next describe's).
    started = await startTokenListener(token, { maxUnauthenticated: MAX, headTimeoutMs: 60_000, handshakeTimeoutMs: 60_000, peers: { kind: 'any' } });
    started.listener.on('refused', (reason) => refused.push(reason));
    ({ ca, port } = started);
  });
  after(async () => {
    for (const { socket } of opened) socket.destroy();
    await started?.close();
  });

  it('a storm of silent TCP and TLS connections never leaves more than the bound open, the oldest go first, and token holders are never cut', async () => {
    // Token holders first: they must survive everything below.
    const holders = [await authenticated(), await authenticated(), await authenticated()];
    const silent: Array<{ socket: Socket | TLSSocket; closed: boolean }> = [];
    const STORM = 60;
    for (let i = 0; i < STORM; i++) {
      // A mix, in an order drawn at random: TCP that never starts TLS, TLS that never sends a head.
      silent.push(randomBytes(1)[0]! < 128 ? await silentTcp() : await silentTls());
      // The invariant after every new connection, once the listener has acted on it.
      await waitUntil(() => silent.filter((entry) => !entry.closed).length <= MAX, 5000, `at most ${MAX} silent connections open after ${i + 1}`);
    }
    // The ones left open are the newest MAX (the oldest were closed first).
    await waitUntil(() => silent.slice(0, STORM - MAX).every((entry) => entry.closed), 5000, 'every older silent connection closed');
    assert.deepEqual(silent.slice(STORM - MAX).map((entry) => entry.closed), new Array<boolean>(MAX).fill(false), 'the newest stay open');
    assert.deepEqual(holders.map((entry) => entry.closed), [false, false, false], 'connections that showed the token are not counted or cut');
    assert.ok(refused.filter((reason) => /without the token: closed the oldest/.test(reason)).length >= STORM - MAX, refused.join('\n'));
    // kubectl still gets through while the silent ones are held.
    const late = await authenticated();
    assert.equal(late.closed, false);
  });

  it('a TCP connection that never finishes the TLS handshake is closed at the handshake deadline', async () => {
    const leaf = await ca.issueServerCertificate({ ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'] });
    const reasons: string[] = [];
    const quick = new LocalListener({
      security: { kind: 'tls-token', certPem: leaf.certPem, keyPem: leaf.keyPem, token },
      target: 'kube-apiserver',
      beginStream: () => Promise.reject(new Error('not used')),
      handshakeTimeoutMs: 300,
    });
    quick.on('refused', (reason) => reasons.push(reason));
    const quickPort = await quick.listen();
    try {
      const started = Date.now();
      const socket = netConnect({ host: '127.0.0.1', port: quickPort });
      socket.on('error', () => undefined);
      await within(new Promise((resolve) => socket.once('close', resolve)), 5000, 'the listener closes a handshake that never starts');
      assert.ok(Date.now() - started >= 250, `closed after ${Date.now() - started} ms, not before the deadline`);
      assert.ok(reasons.some((reason) => /TLS handshake failed/.test(reason)), reasons.join('\n'));
    } finally {
      await quick.close();
    }
  });
});

describe('Security: only allowed local users may use a listener (the peer socket\'s owner in the kernel\'s tables)', () => {
  const ownUid = process.getuid!();
  /** A uid that is not this process's: the listener then takes this test for another local user. */
  const otherUid = ownUid === 4242 ? 4243 : 4242;

  /** An echo target behind a real tunnel, and a listener for it under `peers`. */
  async function echoListener(security: LocalListenerOptions['security'], peers: LocalPeerPolicy) {
    const { agent, client } = await pairedChannels();
    const server = new MuxServer(agent, { targets: new Map([['echo', (stream: Duplex) => void stream.pipe(stream)]]) });
    const mux = new MuxClient(client);
    let streams = 0;
    const listener = new LocalListener({
      security,
      target: 'echo',
      peers,
      beginStream: (target) => {
        streams++;
        return Promise.resolve(mux.beginStream(target));
      },
    });
    const foreign: number[][] = [];
    const refused: string[] = [];
    listener.on('foreignUser', (uids) => foreign.push([...uids]));
    listener.on('refused', (reason) => refused.push(reason));
    const port = await listener.listen();
    return {
      port,
      foreign,
      refused,
      streams: () => streams,
      close: async () => {
        await listener.close();
        mux.close();
        server.close();
        agent.close();
        client.close();
      },
    };
  }

  /** Write `payload` on a fresh plain connection and gather what comes back until it closes. */
  async function echoed(port: number, payload: Buffer): Promise<Buffer> {
    const socket = netConnect({ host: '127.0.0.1', port });
    socket.on('error', () => undefined);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.end(payload);
    await within(new Promise((resolve) => socket.once('close', resolve)), 5000, 'the connection ends');
    return Buffer.concat(chunks);
  }

  it('the default lets this user and root in where the tables can be read (Linux), anyone elsewhere', () => {
    const policy = defaultLocalPeerPolicy();
    assert.equal(policy.kind, process.platform === 'linux' ? 'uids' : 'any');
    assert.deepEqual(policy.kind === 'uids' ? [...policy.uids].sort() : [], [...new Set([ownUid, 0])].sort());
  });

  it('a plain listener (a --forward port, the passthrough API) serves its own user and closes another user\'s connections without a byte', async (t) => {
    const own = await echoListener({ kind: 'plain' }, { kind: 'uids', uids: new Set([ownUid]), lookup: new LoopbackPeerUids() });
    const other = await echoListener({ kind: 'plain' }, { kind: 'uids', uids: new Set([otherUid]), lookup: new LoopbackPeerUids() });
    t.after(async () => {
      await own.close();
      await other.close();
    });
    const payload = randomBytes(100_000);
    assert.ok((await echoed(own.port, payload)).equals(payload), 'the own user is served');
    // A burst of connections from the "other" user, in parallel: none gets a byte or a stream.
    const answers = await Promise.all(Array.from({ length: 20 }, () => echoed(other.port, randomBytes(1000))));
    assert.deepEqual(answers.map((answer) => answer.length), new Array<number>(20).fill(0));
    assert.equal(other.streams(), 0, 'no tunnel stream opened for another user');
    assert.equal(other.foreign.length, 20);
    assert.ok(other.foreign.every((uids) => uids.length === 1 && uids[0] === ownUid), JSON.stringify(other.foreign));
    assert.match(other.refused[0] ?? '', new RegExp(`another local user \\(uid ${ownUid}\\).*only uid ${otherUid} may use this listener`));
  });

  it('the token-checked listener closes another user\'s connection as soon as its owner is known, long before its deadlines', async (t) => {
    const token = randomBytes(32).toString('base64url');
    const ca = await CertificateAuthority.create({ commonName: 'kubepair test session CA' });
    const leaf = await ca.issueServerCertificate({ ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'] });
    const other = await echoListener(
      { kind: 'tls-token', certPem: leaf.certPem, keyPem: leaf.keyPem, token },
      { kind: 'uids', uids: new Set([otherUid]), lookup: new LoopbackPeerUids() },
    );
    t.after(() => other.close());
    // Silent connections, TCP only and TLS: the handshake deadline is 10 s, the head's 30 s.
    const started = Date.now();
    const sockets = [
      netConnect({ host: '127.0.0.1', port: other.port }),
      tlsConnect({ host: '127.0.0.1', port: other.port, ca: ca.certPem, servername: 'localhost' }),
    ];
    await within(
      Promise.all(sockets.map((socket) => new Promise((resolve) => socket.on('error', () => undefined).once('close', resolve)))),
      5000,
      'both closed',
    );
    assert.ok(Date.now() - started < 5000);
    assert.equal(other.streams(), 0);
    assert.deepEqual(other.foreign, [[ownUid], [ownUid]]);
  });

  it('a flood from another user whose owner is not known yet pushes out none of the own user\'s connections waiting for their TLS handshake', async (t) => {
    const MAX = 6;
    // The own user's connections (from 127.0.0.2) are told at once; the flood's lookups hang (a
    // read still under way), so its connections sit in the bound as long as the test wants.
    const hanging: Array<() => void> = [];
    class ScriptedUids extends LoopbackPeerUids {
      override uidsOf(_own: { address: string; port: number }, peer: { address: string; port: number }): Promise<Set<number>> {
        if (peer.address === '127.0.0.2') return Promise.resolve(new Set([ownUid]));
        return new Promise((resolve) => hanging.push(() => resolve(new Set([otherUid]))));
      }
    }
    const ca = await CertificateAuthority.create({ commonName: 'kubepair test session CA' });
    const leaf = await ca.issueServerCertificate({ ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'] });
    const listener = new LocalListener({
      security: { kind: 'tls-token', certPem: leaf.certPem, keyPem: leaf.keyPem, token: randomBytes(32).toString('base64url') },
      target: 'kube-apiserver',
      beginStream: () => Promise.reject(new Error('not used')),
      peers: { kind: 'uids', uids: new Set([ownUid]), lookup: new ScriptedUids() },
      maxUnauthenticated: MAX,
      handshakeTimeoutMs: 60_000,
    });
    const port = await listener.listen();
    const sockets: Array<{ socket: Socket; closed: boolean }> = [];
    t.after(async () => {
      for (const release of hanging) release();
      for (const { socket } of sockets) socket.destroy();
      await listener.close();
    });
    /** A TCP connection that never starts TLS (kubectl's, before its handshake, looks the same). */
    const silent = async (own: boolean): Promise<{ socket: Socket; closed: boolean }> => {
      const socket = netConnect({ host: '127.0.0.1', port, ...(own && { localAddress: '127.0.0.2' }) });
      const entry = { socket, closed: false };
      socket.on('error', () => undefined);
      socket.once('close', () => (entry.closed = true));
      sockets.push(entry);
      await within(new Promise<void>((resolve) => socket.once('connect', () => resolve())), 5000, 'TCP connect');
      return entry;
    };
    const own: Array<{ socket: Socket; closed: boolean }> = [];
    for (let i = 0; i < 2; i++) own.push(await silent(true));
    // Their verdicts are in once the listener's lookups have run (one turn after the accept).
    await new Promise((resolve) => setTimeout(resolve, 50));
    const flood: Array<{ socket: Socket; closed: boolean }> = [];
    for (let i = 0; i < 40; i++) {
      flood.push(await silent(false));
      await waitUntil(() => flood.filter((entry) => !entry.closed).length + own.filter((entry) => !entry.closed).length <= MAX, 5000, `at most ${MAX} after ${i + 1}`);
    }
    assert.deepEqual(own.map((entry) => entry.closed), [false, false], 'the own user\'s connections were not pushed out');
    assert.equal(flood.filter((entry) => !entry.closed).length, MAX - own.length, 'the flood holds only what is left of the bound');
  });

  it('a connection whose owner cannot be told (the tables cannot be read) is closed: fail closed', async (t) => {
    const unreadable = new LoopbackPeerUids(async function* () {
      await Promise.resolve();
      yield* [];
      throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    });
    const listener = await echoListener({ kind: 'plain' }, { kind: 'uids', uids: new Set([ownUid]), lookup: unreadable });
    t.after(() => listener.close());
    assert.equal((await echoed(listener.port, randomBytes(100))).length, 0);
    assert.equal(listener.streams(), 0);
    assert.match(listener.refused.join('\n'), /cannot tell which local user opened a connection \(EACCES\)/);
  });
});
