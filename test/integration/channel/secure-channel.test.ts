/**
 * The pairing handshake and the secure channel end to end over in-memory transports and a
 * programmable malicious relay (docs/design.md §2, §4).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import type {
  HandshakeResult,
  PairingCode,
  SecureChannel,
  SecureChannelOptions,
} from '../../../src/channel/index.js';
import {
  HandshakeShare,
  MemoryTransport,
  openSecureChannel,
  runAgentHandshake,
  runClientHandshake,
} from '../../../src/channel/index.js';
import type { KubepairError } from '../../../src/errors/index.js';
import type { ControlMessage } from '../../../src/protocol/channel-control.js';
import { isKubepairError } from '../../../src/errors/index.js';
import { CHANNEL_READ_HIGH_WATER_BYTES } from '../../../src/limits.js';
import { within } from '../../helpers/channel-pair.js';
import { RelayInTheMiddle } from '../../helpers/relay-in-the-middle.js';
import type { Tamper } from '../../helpers/relay-in-the-middle.js';

const CODE: PairingCode = { nameplate: '42', secret: '73150286' };
const WRONG: PairingCode = { nameplate: '42', secret: '73150287' };
const sessionId = (): Uint8Array => new Uint8Array(randomBytes(16));
const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

async function pairOver(
  relay: RelayInTheMiddle,
  codes: { agent: PairingCode; client: PairingCode },
  options: SecureChannelOptions = {},
  sid = sessionId(),
): Promise<{ agent: SecureChannel; client: SecureChannel }> {
  const [agent, client] = await Promise.all([
    openSecureChannel('agent', { transport: relay.agent, code: codes.agent, sessionId: sid, stepTimeoutMs: 2000, channel: options }),
    openSecureChannel('client', { transport: relay.client, code: codes.client, sessionId: sid, stepTimeoutMs: 2000, channel: options }),
  ]);
  return { agent, client };
}

function collectControl(channel: SecureChannel): ControlMessage[] {
  const got: ControlMessage[] = [];
  channel.on('control', (message) => got.push(message));
  return got;
}

describe('pairing handshake', () => {
  it('same code on both sides: both derive identical directional keys', async () => {
    const [a, c] = MemoryTransport.pair();
    const sid = sessionId();
    const [agent, client]: HandshakeResult[] = await within(
      Promise.all([
        runAgentHandshake({ transport: a, code: CODE, sessionId: sid }),
        runClientHandshake({ transport: c, code: CODE, sessionId: sid }),
      ]),
      5000,
      'handshake',
    );
    assert.equal(hex(agent!.send.key), hex(client!.receive.key), 'agent→client key');
    assert.equal(hex(agent!.send.iv), hex(client!.receive.iv), 'agent→client iv');
    assert.equal(hex(client!.send.key), hex(agent!.receive.key), 'client→agent key');
    assert.equal(hex(client!.send.iv), hex(agent!.receive.iv), 'client→agent iv');
    assert.notEqual(hex(agent!.send.key), hex(agent!.receive.key), 'directions differ');
    assert.equal(agent!.peer.role, 'client');
    assert.equal(client!.peer.role, 'agent');
    agent!.inbox.dispose();
    client!.inbox.dispose();
  });

  it('two sessions with the same code derive unrelated keys (fresh scalars, sid bound)', async () => {
    const keysOf = async (): Promise<string> => {
      const [a, c] = MemoryTransport.pair();
      const sid = sessionId();
      const [agent, client] = await Promise.all([
        runAgentHandshake({ transport: a, code: CODE, sessionId: sid }),
        runClientHandshake({ transport: c, code: CODE, sessionId: sid }),
      ]);
      agent.inbox.dispose();
      client.inbox.dispose();
      return hex(agent.send.key);
    };
    assert.notEqual(await keysOf(), await keysOf());
  });

  it('data flows both ways through the channel, bytes intact', async () => {
    const relay = new RelayInTheMiddle();
    const { agent, client } = await within(pairOver(relay, { agent: CODE, client: CODE }), 5000, 'pairing');
    const payloadA = randomBytes(3 * 1024 * 1024 + 17);
    const payloadC = randomBytes(1024 * 1024 + 5);
    const sink = async (channel: SecureChannel, length: number): Promise<string> => {
      const hash = createHash('sha256');
      let received = 0;
      await new Promise<void>((resolve) => {
        const onData = (chunk: Buffer): void => {
          hash.update(chunk);
          received += chunk.length;
          if (received >= length) {
            channel.mux.off('data', onData);
            resolve();
          }
        };
        channel.mux.on('data', onData);
      });
      return hash.digest('hex');
    };
    const atClient = sink(client, payloadA.length);
    const atAgent = sink(agent, payloadC.length);
    agent.mux.write(payloadA);
    client.mux.write(payloadC);
    assert.equal(await within(atClient, 10_000, 'agent→client data'), createHash('sha256').update(payloadA).digest('hex'));
    assert.equal(await within(atAgent, 10_000, 'client→agent data'), createHash('sha256').update(payloadC).digest('hex'));
    const controls = collectControl(client);
    agent.sendControl({ type: 'session', hello: 'world' });
    await within(once(client, 'control'), 2000, 'control message');
    assert.deepEqual(controls, [{ type: 'session', hello: 'world' }]);
    agent.close();
    assert.equal(await agent.closed, undefined, 'local close carries no error');
    const remote = await within(client.closed, 2000, 'client sees the close');
    assert.equal(remote?.code, 'KP_ERR_TRANSPORT_CLOSED');
  });

  it('wrong code: both sides abort with the pairing-failed error and no data is delivered', async () => {
    const relay = new RelayInTheMiddle();
    const sid = sessionId();
    const results = await within(
      Promise.allSettled([
        openSecureChannel('agent', { transport: relay.agent, code: CODE, sessionId: sid, stepTimeoutMs: 2000 }),
        openSecureChannel('client', { transport: relay.client, code: WRONG, sessionId: sid, stepTimeoutMs: 2000 }),
      ]),
      5000,
      'failed pairing',
    );
    for (const [index, result] of results.entries()) {
      assert.equal(result.status, 'rejected', `side ${index} rejected`);
      const reason = (result).reason as KubepairError;
      assert.equal(reason.code, 'KP_ERR_PAIRING_FAILED', `side ${index}: ${reason.message}`);
      assert.match(reason.message, /pairing failed: wrong code or the relay tampered with the handshake/);
    }
    // Only the four handshake frames ever crossed, never a record.
    assert.equal(relay.seen.a2c.length, 2, 'HELLO_A and CONFIRM_A');
    assert.equal(relay.seen.c2a.length, 1, 'HELLO_B only: the client never confirms a wrong key');
  });

  it('a wrong code fails on the client before it sends CONFIRM_B (the agent learns nothing more)', async () => {
    const relay = new RelayInTheMiddle();
    const sid = sessionId();
    const agentSide = runAgentHandshake({ transport: relay.agent, code: WRONG, sessionId: sid, stepTimeoutMs: 2000 });
    const clientSide = openSecureChannel('client', { transport: relay.client, code: CODE, sessionId: sid, stepTimeoutMs: 2000 });
    await assert.rejects(within(clientSide, 5000, 'client'), (err) => isKubepairError(err, 'KP_ERR_PAIRING_FAILED'));
    await assert.rejects(within(agentSide, 5000, 'agent'), (err) => isKubepairError(err, 'KP_ERR_PAIRING_FAILED'));
  });
});

describe('a share made ahead of the handshake (HandshakeShare)', () => {
  it('an agent whose share was made before the client came pairs, and the share is spent', async () => {
    const relay = new RelayInTheMiddle();
    const sid = sessionId();
    const share = new HandshakeShare(CODE, sid);
    const [agent, client] = await within(
      Promise.all([
        openSecureChannel('agent', { transport: relay.agent, code: CODE, sessionId: sid, share, stepTimeoutMs: 2000 }),
        openSecureChannel('client', { transport: relay.client, code: CODE, sessionId: sid, stepTimeoutMs: 2000 }),
      ]),
      5000,
      'pairing with a share made ahead',
    );
    const got = collectControl(client);
    agent.sendControl({ type: 'session', hello: 'ahead' });
    await within(once(client, 'control'), 2000, 'control message');
    assert.deepEqual(got, [{ type: 'session', hello: 'ahead' }]);
    assert.throws(() => share.take({ code: CODE, sessionId: sid }), (err) => isKubepairError(err, 'KP_ERR_INTERNAL'), 'a share serves one handshake');
    agent.close();
    client.close();
  });

  const misuses: Array<{ name: string; share: (sid: Uint8Array) => HandshakeShare }> = [
    { name: 'made for another session id', share: () => new HandshakeShare(CODE, sessionId()) },
    { name: 'made for another code', share: (sid) => new HandshakeShare(WRONG, sid) },
    {
      name: 'wiped by its owner',
      share: (sid) => {
        const share = new HandshakeShare(CODE, sid);
        share.wipe();
        return share;
      },
    },
  ];
  for (const misuse of misuses) {
    it(`a share ${misuse.name} is refused (KP_ERR_INTERNAL) before anything is sent`, async () => {
      const relay = new RelayInTheMiddle();
      const sid = sessionId();
      await assert.rejects(
        openSecureChannel('agent', { transport: relay.agent, code: CODE, sessionId: sid, share: misuse.share(sid), stepTimeoutMs: 2000 }),
        (err) => isKubepairError(err, 'KP_ERR_INTERNAL'),
        misuse.name,
      );
      assert.equal(relay.seen.a2c.length, 0, `${misuse.name}: no HELLO_A went out`);
    });
  }
});

describe('Security: a man in the middle who knows the nameplate but not the secret', () => {
  it('running its own CPace with each side makes both abort', async () => {
    // The attacker sits where the relay is: it pairs with the agent as a client and with the
    // client as an agent, both times with its best guess of the secret.
    const guess: PairingCode = { nameplate: CODE.nameplate, secret: '00000000' };
    const sid = sessionId();
    const [agentT, mitmAsClient] = MemoryTransport.pair();
    const [mitmAsAgent, clientT] = MemoryTransport.pair();
    const outcomes = await within(
      Promise.allSettled([
        openSecureChannel('agent', { transport: agentT, code: CODE, sessionId: sid, stepTimeoutMs: 2000 }),
        openSecureChannel('client', { transport: clientT, code: CODE, sessionId: sid, stepTimeoutMs: 2000 }),
        openSecureChannel('client', { transport: mitmAsClient, code: guess, sessionId: sid, stepTimeoutMs: 2000 }),
        openSecureChannel('agent', { transport: mitmAsAgent, code: guess, sessionId: sid, stepTimeoutMs: 2000 }),
      ]),
      8000,
      'man in the middle',
    );
    for (const [index, name] of ['agent', 'client'].entries()) {
      const outcome = outcomes[index]!;
      assert.equal(outcome.status, 'rejected', `${name} aborted`);
      assert.equal(((outcome).reason as KubepairError).code, 'KP_ERR_PAIRING_FAILED', name);
    }
  });

  it('substituting the agent\'s share, or the client\'s, makes the pairing fail', async () => {
    for (const direction of ['a2c', 'c2a'] as const) {
      const relay = new RelayInTheMiddle();
      const other = new RelayInTheMiddle();
      // Forge: replace the first frame with the same kind of frame from an unrelated session.
      const foreign = Promise.all([
        runAgentHandshake({ transport: other.agent, code: CODE, sessionId: sessionId(), stepTimeoutMs: 300 }),
        runClientHandshake({ transport: other.client, code: CODE, sessionId: sessionId(), stepTimeoutMs: 300 }),
      ]).catch(() => undefined);
      await within(foreign, 3000, 'foreign session');
      const forged = other.seen[direction][0]!;
      relay.tamper = (dir, index) => (dir === direction && index === 0 ? { kind: 'replace', frame: forged } : { kind: 'forward' });
      const sid = sessionId();
      const results = await within(
        Promise.allSettled([
          openSecureChannel('agent', { transport: relay.agent, code: CODE, sessionId: sid, stepTimeoutMs: 1000 }),
          openSecureChannel('client', { transport: relay.client, code: CODE, sessionId: sid, stepTimeoutMs: 1000 }),
        ]),
        5000,
        `forged ${direction}`,
      );
      for (const [index, result] of results.entries()) {
        assert.ok(result.status === 'rejected', `${direction}: side ${index} aborts`);
        const code = (result.reason as KubepairError).code;
        assert.ok(code === 'KP_ERR_PAIRING_FAILED' || code === 'KP_ERR_TRANSPORT_CLOSED', `${direction}: side ${index} ${code}`);
      }
    }
  });

  it('a low-order share injected by the relay is refused with KP_ERR_INVALID_PUBLIC_SHARE', async () => {
    const relay = new RelayInTheMiddle();
    const lowOrder = Buffer.from('e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800', 'hex');
    relay.tamper = (dir, index, frame) => {
      if (dir !== 'a2c' || index !== 0) return { kind: 'forward' };
      const forged = Uint8Array.from(frame);
      forged.set(lowOrder, 2);
      return { kind: 'replace', frame: forged };
    };
    const sid = sessionId();
    const client = openSecureChannel('client', { transport: relay.client, code: CODE, sessionId: sid, stepTimeoutMs: 1000 });
    const agent = openSecureChannel('agent', { transport: relay.agent, code: CODE, sessionId: sid, stepTimeoutMs: 1000 });
    await assert.rejects(within(client, 3000, 'client'), (err) => isKubepairError(err, 'KP_ERR_INVALID_PUBLIC_SHARE'));
    await assert.rejects(within(agent, 3000, 'agent'), (err) => isKubepairError(err));
  });

  it('a HELLO_A reflected back to the agent is refused', async () => {
    const relay = new RelayInTheMiddle();
    relay.tamper = (dir, index) => (dir === 'a2c' && index === 0 ? { kind: 'reflect' } : { kind: 'forward' });
    const agent = openSecureChannel('agent', { transport: relay.agent, code: CODE, sessionId: sessionId(), stepTimeoutMs: 1000 });
    await assert.rejects(within(agent, 3000, 'agent'), (err) => isKubepairError(err, 'KP_ERR_HANDSHAKE_PROTOCOL'));
  });
});

describe('Security: the relay tampers with records after the handshake', () => {
  /** Pair, apply `tamper` to agent→client records only, send five control records, and report. */
  async function tamperedRun(tamper: Tamper): Promise<{ delivered: string[]; error: KubepairError | undefined }> {
    const relay = new RelayInTheMiddle();
    const { agent, client } = await within(pairOver(relay, { agent: CODE, client: CODE }), 5000, 'pairing');
    const handshakeFrames = relay.seen.a2c.length;
    relay.tamper = (dir, index, frame) => (dir === 'a2c' ? tamper(dir, index - handshakeFrames, frame) : { kind: 'forward' });
    const delivered: string[] = [];
    client.on('control', (m) => delivered.push(String(m['n'])));
    for (let n = 0; n < 5; n++) agent.sendControl({ type: 'probe', n });
    const error = await within(client.closed, 3000, 'client closes');
    // Anything sent after the failure must not be delivered either.
    if (!agent.isClosed) {
      try {
        agent.sendControl({ type: 'probe', n: 99 });
      } catch (err) {
        assert.ok(isKubepairError(err, 'KP_ERR_CHANNEL_CLOSED'));
      }
    }
    relay.inject('a2c', relay.seen.a2c[handshakeFrames]!);
    agent.close();
    return { delivered, error };
  }

  const cases: Array<[string, Tamper, string[]]> = [
    [
      'a flipped byte',
      (_d, i, frame) => {
        if (i !== 2) return { kind: 'forward' };
        const changed = Uint8Array.from(frame);
        changed[changed.length - 3]! ^= 0x01;
        return { kind: 'replace', frame: changed };
      },
      ['0', '1'],
    ],
    ['a replayed record', (_d, i) => (i === 1 ? { kind: 'duplicate' } : { kind: 'forward' }), ['0', '1']],
    ['two reordered records', (_d, i) => (i === 1 ? { kind: 'hold' } : { kind: 'forward' }), ['0']],
    ['a dropped record', (_d, i) => (i === 1 ? { kind: 'drop' } : { kind: 'forward' }), ['0']],
    [
      'a truncated record',
      (_d, i, frame) => (i === 1 ? { kind: 'replace', frame: frame.subarray(0, frame.length - 1) } : { kind: 'forward' }),
      ['0'],
    ],
    [
      'a record cut to fewer bytes than a tag',
      (_d, i, frame) => (i === 1 ? { kind: 'replace', frame: frame.subarray(0, 10) } : { kind: 'forward' }),
      ['0'],
    ],
    ['a duplicated first record', (_d, i) => (i === 0 ? { kind: 'duplicate' } : { kind: 'forward' }), ['0']],
  ];

  for (const [name, tamper, expected] of cases) {
    it(`${name}: the receiver fails with the integrity error and delivers nothing after it`, async () => {
      const { delivered, error } = await tamperedRun(tamper);
      assert.equal(error?.code, 'KP_ERR_RECORD_INTEGRITY', `${name}: ${error?.message ?? 'no error'}`);
      assert.deepEqual(delivered, expected, `${name}: delivered records`);
    });
  }

  it('a record reflected back to its sender fails there with the integrity error', async () => {
    const relay = new RelayInTheMiddle();
    const { agent, client } = await within(pairOver(relay, { agent: CODE, client: CODE }), 5000, 'pairing');
    const skip = relay.seen.a2c.length;
    relay.tamper = (dir, index) => (dir === 'a2c' && index === skip ? { kind: 'reflect' } : { kind: 'forward' });
    const atAgent = collectControl(agent);
    agent.sendControl({ type: 'probe', n: 0 });
    const error = await within(agent.closed, 3000, 'agent closes');
    assert.equal(error?.code, 'KP_ERR_RECORD_INTEGRITY');
    assert.deepEqual(atAgent, [], 'the agent delivered nothing');
    client.close();
  });
});

describe('key update', () => {
  const nearLimit: SecureChannelOptions = { records: { initialSequence: 2 ** 24 - 4 } };

  it('crossing the 2^24-record boundary keeps data flowing both ways', async () => {
    const relay = new RelayInTheMiddle();
    const { agent, client } = await within(pairOver(relay, { agent: CODE, client: CODE }, nearLimit), 5000, 'pairing');
    const atClient = collectControl(client);
    const atAgent = collectControl(agent);
    for (let n = 0; n < 10; n++) {
      agent.sendControl({ type: 'probe', n });
      client.sendControl({ type: 'probe', n });
    }
    await within(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (atClient.length === 10 && atAgent.length === 10) resolve();
        };
        agent.on('control', check);
        client.on('control', check);
      }),
      3000,
      'ten records each way',
    );
    assert.deepEqual(atClient.map((m) => m['n']), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert.deepEqual(atAgent.map((m) => m['n']), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // Four handshake-side frames plus ten records plus exactly one KEY_UPDATE each way.
    assert.equal(relay.seen.a2c.length, 2 + 10 + 1, 'agent sent one KEY_UPDATE');
    agent.close();
    client.close();
  });

  it('Security: a record under the old key replayed after the update is rejected', async () => {
    const relay = new RelayInTheMiddle();
    const { agent, client } = await within(pairOver(relay, { agent: CODE, client: CODE }, nearLimit), 5000, 'pairing');
    const atClient = collectControl(client);
    for (let n = 0; n < 6; n++) agent.sendControl({ type: 'probe', n });
    await within(
      new Promise<void>((resolve) => client.on('control', () => atClient.length === 6 && resolve())),
      3000,
      'six records',
    );
    const oldKeyRecord = relay.seen.a2c[2]!; // the first record, sealed before the KEY_UPDATE
    relay.inject('a2c', oldKeyRecord);
    const error = await within(client.closed, 3000, 'client closes');
    assert.equal(error?.code, 'KP_ERR_RECORD_INTEGRITY');
    assert.equal(atClient.length, 6, 'the replay delivered nothing');
    agent.close();
  });
});

describe('handshake timeouts and aborts', () => {
  it('a client with no agent times out with KP_ERR_HANDSHAKE_TIMEOUT', async () => {
    const [, c] = MemoryTransport.pair();
    await assert.rejects(
      within(openSecureChannel('client', { transport: c, code: CODE, sessionId: sessionId(), stepTimeoutMs: 50 }), 3000, 'timeout'),
      (err) => isKubepairError(err, 'KP_ERR_HANDSHAKE_TIMEOUT'),
    );
    assert.ok(c.closed, 'the transport is closed after the failure');
  });

  it('an agent whose CONFIRM_B never comes fails with the pairing error (the attempt counts)', async () => {
    const relay = new RelayInTheMiddle();
    relay.tamper = (dir, index) => (dir === 'c2a' && index === 1 ? { kind: 'drop' } : { kind: 'forward' });
    const sid = sessionId();
    const agent = openSecureChannel('agent', { transport: relay.agent, code: CODE, sessionId: sid, stepTimeoutMs: 200 });
    const client = openSecureChannel('client', { transport: relay.client, code: CODE, sessionId: sid, stepTimeoutMs: 200 });
    await assert.rejects(within(agent, 3000, 'agent'), (err) => isKubepairError(err, 'KP_ERR_PAIRING_FAILED'));
    (await client.catch(() => undefined))?.close();
  });

  it('an abort signal stops a waiting handshake with its reason and keeps the transport when asked', async () => {
    const [a] = MemoryTransport.pair();
    const controller = new AbortController();
    const pending = openSecureChannel('agent', {
      transport: a,
      code: CODE,
      sessionId: sessionId(),
      signal: controller.signal,
      keepTransportOnFailure: true,
    });
    controller.abort();
    await assert.rejects(within(pending, 3000, 'abort'), (err) => isKubepairError(err, 'KP_ERR_ABORTED'));
    assert.equal(a.closed, false, 'the agent keeps its transport for the next attempt');
  });

  it('the transport closing mid-handshake is reported as KP_ERR_TRANSPORT_CLOSED', async () => {
    const [a, c] = MemoryTransport.pair();
    const pending = openSecureChannel('client', { transport: c, code: CODE, sessionId: sessionId(), stepTimeoutMs: 2000 });
    a.close(4410, 'session expired');
    await assert.rejects(within(pending, 3000, 'close'), (err) => isKubepairError(err, 'KP_ERR_TRANSPORT_CLOSED') && /4410/.test(err.message));
  });

  it('options are checked: a 15-byte session id is refused', async () => {
    const [a] = MemoryTransport.pair();
    await assert.rejects(
      openSecureChannel('agent', { transport: a, code: CODE, sessionId: new Uint8Array(15) }),
      (err) => isKubepairError(err, 'KP_ERR_INVALID_ARGUMENT'),
    );
  });
});

describe('records per write', () => {
  it('a corked batch of writes (HTTP/2 frame header + payload) is sealed as one record', async () => {
    const relay = new RelayInTheMiddle();
    const { agent, client } = await within(pairOver(relay, { agent: CODE, client: CODE }), 5000, 'pairing');
    const before = relay.seen.a2c.length;
    const received: Buffer[] = [];
    client.mux.on('data', (data: Buffer) => received.push(data));
    const header = randomBytes(9);
    const payload = randomBytes(1000);
    agent.mux.cork();
    agent.mux.write(header);
    agent.mux.write(payload);
    agent.mux.uncork();
    await within(
      new Promise<void>((resolve) => client.mux.on('data', () => Buffer.concat(received).length >= 1009 && resolve())),
      5000,
      'the batch at the client',
    );
    assert.equal(relay.seen.a2c.length - before, 1, 'one record for the whole batch');
    assert.equal(Buffer.concat(received).toString('hex'), Buffer.concat([header, payload]).toString('hex'), 'bytes intact and in order');
    agent.close();
    client.close();
  });

  it('a batch larger than the record size is split into full records plus the rest, in order', async () => {
    const relay = new RelayInTheMiddle();
    const chunkBytes = 1024;
    const { agent, client } = await within(pairOver(relay, { agent: CODE, client: CODE }, { muxChunkBytes: chunkBytes }), 5000, 'pairing');
    const before = relay.seen.a2c.length;
    const parts = [randomBytes(700), randomBytes(0), randomBytes(2500), randomBytes(9)];
    const total = parts.reduce((sum, part) => sum + part.length, 0); // 3209 bytes: 3 full records and 137 bytes
    const received: Buffer[] = [];
    client.mux.on('data', (data: Buffer) => received.push(data));
    agent.mux.cork();
    for (const part of parts) agent.mux.write(part);
    agent.mux.uncork();
    await within(
      new Promise<void>((resolve) => client.mux.on('data', () => Buffer.concat(received).length >= total && resolve())),
      5000,
      'the batch at the client',
    );
    const frames = relay.seen.a2c.slice(before);
    assert.equal(frames.length, 4, 'ceil(3209 / 1024) records');
    // Each record is ciphertext of inner type + body, plus the 16-byte tag.
    assert.deepEqual(frames.map((frame) => frame.length - 1 - 16), [1024, 1024, 1024, 137], 'record bodies');
    assert.equal(Buffer.concat(received).toString('hex'), Buffer.concat(parts).toString('hex'), 'bytes intact and in order');
    agent.close();
    client.close();
  });
});

describe('backpressure', () => {
  it('a reader that stops reading makes the writer wait; nothing is lost when it reads again', async () => {
    const relay = new RelayInTheMiddle();
    const { agent, client } = await within(pairOver(relay, { agent: CODE, client: CODE }), 5000, 'pairing');
    client.mux.pause();
    const chunk = randomBytes(64 * 1024);
    const expected = createHash('sha256');
    let written = 0;
    let stalled = false;
    // Write, honouring write() and 'drain', until a drain fails to come within 300 ms: the
    // writer is then held back by the paused reader. Bounded: at most 64 MiB.
    while (!stalled && written < 64 * 1024 * 1024) {
      expected.update(chunk);
      written += chunk.length;
      if (agent.mux.write(chunk)) continue;
      const drained = once(agent.mux, 'drain').then(() => true);
      stalled = !(await Promise.race([drained, new Promise<false>((resolve) => setTimeout(() => resolve(false), 300))]));
    }
    assert.ok(stalled, 'the writer stalls while the reader is paused');
    // The reader's buffer (CHANNEL_READ_HIGH_WATER_BYTES) + two transport windows (1 MiB each)
    // + the writer's own buffer and the record in hand.
    const bound = CHANNEL_READ_HIGH_WATER_BYTES + 4 * 1024 * 1024;
    assert.ok(written <= bound, `at most ${bound} bytes were accepted, got ${written}`);
    assert.ok(relay.agent.bufferedAmount <= 2 * 1024 * 1024, `agent transport buffers ${relay.agent.bufferedAmount} bytes`);
    const drained = once(agent.mux, 'drain');
    const received = createHash('sha256');
    let got = 0;
    client.mux.on('data', (data: Buffer) => {
      received.update(data);
      got += data.length;
    });
    client.mux.resume();
    await within(drained, 5000, 'drain after the reader resumed');
    await within(
      new Promise<void>((resolve) => {
        const check = (): void => {
          if (got >= written) resolve();
        };
        client.mux.on('data', check);
        check();
      }),
      10_000,
      'all bytes',
    );
    assert.equal(received.digest('hex'), expected.digest('hex'), 'every byte arrived, in order');
    agent.close();
    client.close();
  });
});
