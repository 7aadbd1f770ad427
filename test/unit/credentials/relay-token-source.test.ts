/**
 * Which relay token share and connect send (src/credentials/relay-token-source.ts): the order
 * KUBEPAIR_TOKEN, keychain, none, with the keychain behind the RelayTokenStore interface. The
 * real keychain and the real "no keychain" case are tested with processes in
 * test/integration/cli/token-command.test.ts and test/e2e/relay-access.test.ts.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { chooseRelayToken } from '../../../src/credentials/relay-token-source.js';
import type { RelayTokenStore } from '../../../src/credentials/relay-token-store.js';
import { KubepairError, isKubepairError } from '../../../src/errors/index.js';

const ENV_TOKEN = `kprt_${'e'.repeat(43)}`;
const STORED_TOKEN = `kprt_${'s'.repeat(43)}`;

class MemoryStore implements RelayTokenStore {
  readonly name = 'a memory store';
  readonly tokens = new Map<string, string>();
  readonly asked: string[] = [];
  failure: Error | undefined;
  async get(origin: string): Promise<string | undefined> {
    this.asked.push(origin);
    if (this.failure !== undefined) throw this.failure;
    return Promise.resolve(this.tokens.get(origin));
  }
  async set(origin: string, token: string): Promise<void> {
    this.tokens.set(origin, token);
    return Promise.resolve();
  }
  async delete(origin: string): Promise<boolean> {
    return Promise.resolve(this.tokens.delete(origin));
  }
}

function run(store: MemoryStore, env: NodeJS.ProcessEnv, relayUrl = 'https://Relay.Example.com:443/prefix/') {
  const debug: string[] = [];
  const warn: string[] = [];
  let created = 0;
  const choice = chooseRelayToken({
    relayUrl,
    env,
    store: () => {
      created++;
      return store;
    },
    debug: (line) => debug.push(line),
    warn: (line) => warn.push(line),
  });
  return { choice, debug, warn, created: () => created };
}

describe('chooseRelayToken', () => {
  it('KUBEPAIR_TOKEN wins, and the keychain is not even created', async () => {
    const store = new MemoryStore();
    store.tokens.set('https://relay.example.com', STORED_TOKEN);
    const result = run(store, { KUBEPAIR_TOKEN: ENV_TOKEN });
    assert.deepEqual(await result.choice, { token: ENV_TOKEN, source: 'environment' });
    assert.equal(result.created(), 0);
  });

  it('else the keychain entry of the relay\'s origin (scheme and host lowercased, default port and path dropped)', async () => {
    const store = new MemoryStore();
    store.tokens.set('https://relay.example.com', STORED_TOKEN);
    for (const env of [{}, { KUBEPAIR_TOKEN: '' }]) {
      assert.deepEqual(await run(store, env).choice, { token: STORED_TOKEN, source: 'keychain' });
    }
    assert.deepEqual(await run(store, {}, 'wss://relay.example.com').choice, { token: STORED_TOKEN, source: 'keychain' });
    assert.deepEqual(store.asked, ['https://relay.example.com', 'https://relay.example.com', 'https://relay.example.com']);
  });

  it('else no token, silently', async () => {
    const result = run(new MemoryStore(), {}, 'https://other.example.com:8443');
    assert.deepEqual(await result.choice, { source: 'none' });
    assert.deepEqual([result.debug, result.warn], [[], []]);
  });

  it('no keychain on this machine: no token and exactly one debug note, no warning, no error', async () => {
    const store = new MemoryStore();
    store.failure = new KubepairError('KP_ERR_KEYCHAIN_UNAVAILABLE', undefined, { cause: new Error('Platform failure: DBus error: no bus') });
    const result = run(store, {});
    assert.deepEqual(await result.choice, { source: 'none' });
    assert.equal(result.debug.length, 1);
    assert.match(result.debug[0]!, /no OS keychain to read a relay token from \(KUBEPAIR_TOKEN is not set either\): Platform failure: DBus error: no bus/);
    assert.deepEqual(result.warn, []);
  });

  it('a keychain that fails (locked, denied): no token and one warning the user sees', async () => {
    const store = new MemoryStore();
    store.failure = new KubepairError('KP_ERR_KEYCHAIN_FAILED', 'reading the relay token: access denied');
    const result = run(store, {});
    assert.deepEqual(await result.choice, { source: 'none' });
    assert.equal(result.warn.length, 1);
    assert.match(result.warn[0]!, /access denied; going on without a relay token \(set KUBEPAIR_TOKEN to give one\)/);
  });

  it('Security: a keychain entry that is not a relay token is an error and is never repeated', async () => {
    const store = new MemoryStore();
    store.tokens.set('https://relay.example.com', 'hunter2-not-a-token');
    await assert.rejects(run(store, {}).choice, (err) => {
      assert.ok(isKubepairError(err, 'KP_ERR_KEYCHAIN_FAILED'));
      assert.match(err.message, /the entry for https:\/\/relay\.example\.com in a memory store is not a kubepair relay token/);
      assert.ok(!err.message.includes('hunter2'));
      return true;
    });
  });

  it('a relay URL that is not one is the relay URL error', async () => {
    await assert.rejects(run(new MemoryStore(), {}, 'not a url').choice, (err) => isKubepairError(err, 'KP_ERR_RELAY_URL_INVALID'));
  });
});
