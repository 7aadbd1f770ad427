/**
 * Starting a relay node of a cluster (docs/design.md §8.2, docs/operations.md "Relay cluster"):
 * `--advertise` and `--cluster-key-file` go together and need `--store redis://`; the key file
 * is checked like the relay's other secrets before the node takes any session, and the key is in
 * no log line; the node's sockets are tagged with its id in the store. Real relay processes on a
 * real redis-server.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startRedis } from '../../helpers/redis-server.js';
import type { TestRedis } from '../../helpers/redis-server.js';
import { createClient } from '@redis/client';
import type { RedisClientType } from '@redis/client';
import { nodeOfAttachment } from '../../../src/relay/attachment-tag.js';
import { anonymousRelayArgs, connectPair, privateTempDir, runCli, startRelay } from '../../helpers/relay-process.js';

describe('relay cluster node start-up (a real relay process on a real redis-server)', { timeout: 120_000 }, () => {
  let redis: TestRedis | undefined;
  let dir = '';
  let keyFile = '';
  const key = randomBytes(32).toString('base64');

  before(async () => {
    redis = await startRedis();
    dir = await privateTempDir('kubepair-cluster-start-');
    keyFile = join(dir, 'cluster-key');
    await writeFile(keyFile, `${key}\n`, { mode: 0o600 });
  });
  after(async () => {
    await redis?.stop();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  const relayArgs = (...extra: string[]): string[] => anonymousRelayArgs(dir, ...extra);

  it('a node with --advertise, a 0600 cluster key and a Redis store starts, says its advertised URL, tags its sockets with it in Redis, and never logs the key', async () => {
    const advertise = 'http://127.0.0.1:1';
    const relay = await startRelay({ args: ['--store', redis!.url, '--store-prefix', 'kp-node:', '--advertise', advertise, '--cluster-key-file', keyFile] });
    const store = createClient({ url: redis!.url }) as unknown as RedisClientType;
    store.on('error', () => undefined);
    await store.connect();
    try {
      const listening = await relay.logs.waitFor((record) => record.event === 'relay_listening', 10_000, 0, 'relay_listening');
      assert.equal(listening['advertise'], advertise, JSON.stringify(listening));
      const { session, agent, client } = await connectPair(relay);
      const [agentTag, clientTag] = await store.sendCommand<string[]>(['HMGET', `kp-node:s:${session.session_id}`, 'ta', 'tc']);
      assert.equal(nodeOfAttachment(agentTag ?? ''), advertise, `agent tag ${agentTag}`);
      assert.equal(nodeOfAttachment(clientTag ?? ''), advertise, `client tag ${clientTag}`);
      agent.ws.close(1000);
      client.ws.close(1000);
      await Promise.all([agent.closedWithin(), client.closedWithin()]);
    } finally {
      await store.close();
      await relay.dispose();
    }
    const logged = relay.logs.records.map((record) => JSON.stringify(record)).join('\n') + relay.stderr.join('');
    assert.ok(!logged.includes(key), 'the cluster key is in no log line');
  });

  it('--advertise without --cluster-key-file, or either without a Redis store, is refused with exit 2', async () => {
    const alone = await runCli(relayArgs('--store', redis!.url, '--advertise', 'https://relay-1.internal:8443'));
    assert.equal(alone.code, 2, alone.stderr);
    assert.match(alone.stderr, /--advertise and --cluster-key-file go together/);
    const fromEnv = await runCli(relayArgs('--store', redis!.url), { KUBEPAIR_RELAY_CLUSTER_KEY_FILE: keyFile });
    assert.equal(fromEnv.code, 2, fromEnv.stderr);
    assert.match(fromEnv.stderr, /go together/);
    const memory = await runCli(relayArgs('--advertise', 'https://relay-1.internal:8443', '--cluster-key-file', keyFile));
    assert.equal(memory.code, 2, memory.stderr);
    assert.match(memory.stderr, /need --store redis/);
    const badUrl = await runCli(relayArgs('--store', redis!.url, '--cluster-key-file', keyFile), { KUBEPAIR_RELAY_ADVERTISE: 'https://relay-1.internal:8443/path' });
    assert.equal(badUrl.code, 2, badUrl.stderr);
    assert.match(badUrl.stderr, /KUBEPAIR_RELAY_ADVERTISE=.*must be exactly https:\/\/HOST\[:PORT\]/);
  });

  it('Security: a cluster key file readable by others stops the node (KP_ERR_RELAY_CLUSTER_KEY, exit 1) without showing the key', async () => {
    const wide = join(dir, 'cluster-key-wide');
    await writeFile(wide, `${key}\n`, { mode: 0o600 });
    await chmod(wide, 0o644);
    const result = await runCli(relayArgs('--store', redis!.url, '--advertise', 'https://relay-1.internal:8443', '--cluster-key-file', wide));
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /KP_ERR_RELAY_CLUSTER_KEY|cluster key file cannot be used/);
    assert.match(result.stderr, /readable or writable by other users \(mode 644\)/);
    assert.doesNotMatch(result.stderr, /listening on|\n\s+at /);
    assert.ok(!result.stderr.includes(key) && !result.stdout.includes(key));
    assert.equal((await readFile(wide, 'utf8')).trim(), key, 'the file is left as it was');
  });
});
