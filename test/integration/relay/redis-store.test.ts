/**
 * `kubepair relay --store redis://...` as a real relay process on a real redis-server (docs/design.md
 * §8.2, docs/operations.md "Redis store"): sessions pair through the Redis store; Redis unreachable
 * at start stops the relay with one clear line and exit 1; Redis going away later turns new
 * sessions into 503 KP_ERR_RELAY_STORE_UNAVAILABLE and /readyz into 503 while an established
 * splice keeps forwarding, and the relay recovers by itself when Redis is back; AUTH from a
 * password file or the URL, without the password ever reaching a log.
 *
 * Security: what Redis holds is worth no more than the relay's memory: after a paired session,
 * every key in Redis is read (as an attacker with read access to Redis would) and none of it holds
 * a session key, a relay token, the relay secret, or their bytes in hex or base64.
 */
import assert from 'node:assert/strict';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createClient } from '@redis/client';
import { CertificateAuthority } from '../../../src/tls/index.js';
import type { RedisClientType } from '@redis/client';
import { startRedis } from '../../helpers/redis-server.js';
import type { TestRedis } from '../../helpers/redis-server.js';
import { anonymousRelayArgs, api, connectPair, createSessionViaApi, errorCode, metric, openPeer, privateTempDir, refusedUpgrade, runCli, startRelay } from '../../helpers/relay-process.js';
import type { StartedRelay } from '../../helpers/relay-process.js';
import { freePort } from '../../helpers/tcp.js';
import { within } from '../../helpers/wait-until.js';

/** How long the relay may take to notice that Redis is back and turn ready again, in ms. */
const RECOVERY_TIMEOUT_MS = 30_000;

/** Every key under `prefix` in Redis with everything it holds, as text (keys deleted while it reads are left out). */
async function dumpRedis(url: string, prefix: string, password?: string): Promise<Map<string, string>> {
  const client = createClient({ url, ...(password === undefined ? {} : { password }) }) as unknown as RedisClientType;
  client.on('error', () => undefined);
  await client.connect();
  try {
    const dump = new Map<string, string>();
    const keys = await client.sendCommand<string[]>(['KEYS', `${prefix}*`]);
    for (const key of keys.slice(0, 10_000)) {
      const type = await client.sendCommand<string>(['TYPE', key]);
      // Gone between KEYS and TYPE (a nameplate is freed once the pair is established): it holds nothing.
      if (type === 'none') continue;
      const commands: Record<string, string[]> = {
        string: ['GET', key],
        hash: ['HGETALL', key],
        set: ['SMEMBERS', key],
        zset: ['ZRANGE', key, '0', '-1', 'WITHSCORES'],
        list: ['LRANGE', key, '0', '-1'],
      };
      const command = commands[type];
      assert.ok(command !== undefined, `key ${key} has type ${type}, which this dump does not read`);
      dump.set(key, JSON.stringify(await client.sendCommand(command)));
    }
    return dump;
  } finally {
    await client.close();
  }
}

/** A secret in every form it could be written in: as given, and its bytes in hex and base64. */
function forms(secret: string): string[] {
  const out = [secret];
  const body = secret.replace(/^kprt_/, '');
  const bytes = Buffer.from(body, 'base64url');
  if (bytes.length >= 16) out.push(bytes.toString('hex'), bytes.toString('base64'), bytes.toString('base64url'));
  return out;
}

describe('relay --store redis:// (a real relay process on a real redis-server)', { timeout: 180_000 }, () => {
  let redis: TestRedis | undefined;
  let relay: StartedRelay | undefined;

  before(async () => {
    redis = await startRedis();
    relay = await startRelay({ args: ['--store', `${redis.url}/0`, '--store-prefix', 'kp-it:'] });
  });
  after(async () => {
    const stopped = await Promise.allSettled([relay?.dispose(), redis?.stop()]);
    for (const result of stopped) if (result.status === 'rejected') throw result.reason;
  });

  it('pairs a session through the Redis store and says which store it uses (without credentials)', async () => {
    const { session, agent, client } = await connectPair(relay!);
    agent.ws.send(JSON.stringify({ type: 'established' }));
    agent.ws.send(Buffer.from('through redis'));
    await client.until(() => client.frames.length > 0, 'the agent\'s frame');
    assert.equal(client.frames[0]?.toString(), 'through redis');
    const dump = await dumpRedis(redis!.url, 'kp-it:');
    const stored = dump.get(`kp-it:s:${session.session_id}`);
    assert.ok(stored !== undefined, `the session is in Redis: ${[...dump.keys()].join(' ')}`);
    const listening = relay!.logs.records.find((record) => record.event === 'relay_listening');
    assert.equal(listening?.['store'], `${redis!.url}/0`);
    agent.ws.close(1000);
    client.ws.close(1000);
    await Promise.all([agent.closedWithin(), client.closedWithin()]);
  });

  it('Security: after a paired session, nothing in Redis is a session key, a relay token or the relay secret', async () => {
    const { session, pairing, agent, client } = await connectPair(relay!);
    agent.ws.send(JSON.stringify({ type: 'established' }));
    agent.ws.send(Buffer.from('x'));
    await client.until(() => client.frames.length > 0, 'a frame');
    const dump = await dumpRedis(redis!.url, 'kp-it:');
    const text = [...dump].map(([key, value]) => `${key}=${value}`).join('\n');
    assert.ok(text.includes(session.session_id), 'the dump does include the session (it read the right keys)');
    const secretFile = await readFile(join(relay!.stateDir, 'session-key-secret'));
    const secrets: Array<[string, string]> = [
      ['agent key', session.agent_key],
      ['client key', pairing.client_key],
      ...Object.entries(relay!.tokens as unknown as Record<string, string>).map(([scope, token]): [string, string] => [`${scope} token`, token]),
      ['relay secret', secretFile.toString('base64url')],
    ];
    for (const [what, secret] of secrets) {
      for (const form of forms(secret)) assert.ok(!text.includes(form), `the ${what} is in Redis (as ${form.slice(0, 6)}...)`);
    }
    agent.ws.close(1000);
    client.ws.close(1000);
    await Promise.all([agent.closedWithin(), client.closedWithin()]);
  });

  it('Redis going away: new sessions 503 KP_ERR_RELAY_STORE_UNAVAILABLE, /readyz 503, the splice keeps forwarding; back: all works again', async () => {
    const { session, agent, client } = await connectPair(relay!);
    agent.ws.send(JSON.stringify({ type: 'established' }));
    const waiting = await createSessionViaApi(relay!);
    assert.equal((await api(relay!, 'GET', '/readyz')).status, 200);
    await redis!.kill();
    const refused = await api(relay!, 'POST', '/api/v1/sessions', { token: relay!.tokens.agent, body: { protocol: 'kubepair/1' } });
    assert.equal(refused.status, 503, JSON.stringify(refused.body));
    assert.equal(errorCode(refused), 'KP_ERR_RELAY_STORE_UNAVAILABLE');
    const pairing = await api(relay!, 'POST', '/api/v1/pair', { token: relay!.tokens.client, body: { nameplate: waiting.nameplate } });
    assert.deepEqual([pairing.status, errorCode(pairing)], [503, 'KP_ERR_RELAY_STORE_UNAVAILABLE'], 'pairing too');
    const upgrade = await refusedUpgrade(openPeer(relay!, 'agent', session.session_id, session.agent_key));
    assert.deepEqual([upgrade.status, upgrade.code], [503, 'KP_ERR_RELAY_STORE_UNAVAILABLE'], 'a socket upgrade too (endpoints retry a 503)');
    const ready = await api(relay!, 'GET', '/readyz');
    assert.equal(ready.status, 503);
    assert.match(JSON.stringify(ready.body), /session store/);
    // The metrics still answer, without session figures, and count what Redis failed.
    const scrape = await api(relay!, 'GET', '/metrics', { token: relay!.tokens.metrics });
    assert.equal(scrape.status, 200, 'metrics are scraped while Redis is down');
    assert.doesNotMatch(String(scrape.body), /^kubepair_relay_sessions\{/m, 'no stale session figures');
    for (const part of ['sessions', 'limits']) {
      assert.ok(((await metric(relay!, 'kubepair_relay_store_errors_total', `{part="${part}"}`)) ?? 0) > 0, `store errors counted: ${part}`);
    }
    agent.ws.send(Buffer.from('while redis is down'));
    await client.until(() => client.frames.some((frame) => frame.toString() === 'while redis is down'), 'a frame forwarded while Redis is down');
    await redis!.restart();
    const deadline = Date.now() + RECOVERY_TIMEOUT_MS;
    let readyAgain = false;
    for (let i = 0; i < RECOVERY_TIMEOUT_MS / 200 && !readyAgain && Date.now() < deadline; i++) {
      readyAgain = (await api(relay!, 'GET', '/readyz')).status === 200;
      if (!readyAgain) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.ok(readyAgain, 'ready again once Redis is back');
    const created = await createSessionViaApi(relay!);
    assert.equal(created.nameplate, '1', 'an empty Redis: the lowest nameplate again');
    agent.ws.close(1000);
    client.ws.close(1000);
    await Promise.all([agent.closedWithin(), client.closedWithin()]);
  });
});

describe('relay --store: start-up and Redis AUTH', { timeout: 120_000 }, () => {
  const PASSWORD = 'redis-pass-7f3a91c2d4e5';
  let redis: TestRedis | undefined;
  let dir = '';

  before(async () => {
    redis = await startRedis({ password: PASSWORD });
    dir = await privateTempDir('kubepair-redis-auth-');
  });
  after(async () => {
    await redis?.stop();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  const relayArgs = (store: string, ...extra: string[]): string[] => anonymousRelayArgs(dir, '--store', store, ...extra);

  it('Redis unreachable at start: one clear line, exit 1, no listening relay', async () => {
    const port = await freePort();
    const result = await runCli(relayArgs(`redis://127.0.0.1:${port}`));
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /cannot reach its session store \(Redis\)/);
    assert.match(result.stderr, new RegExp(`cannot reach redis://127\\.0\\.0\\.1:${port}`));
    assert.doesNotMatch(result.stderr, /listening on|\n\s+at /);
  });

  it('Security: a password from --store-password-file or the URL authenticates, and is in no log line or message', async () => {
    const passwordFile = join(dir, 'redis-password');
    await writeFile(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    for (const args of [
      ['--store', `${redis!.url}/1`, '--store-password-file', passwordFile],
      ['--store', `redis://default:${PASSWORD}@127.0.0.1:${redis!.port}/2`],
    ]) {
      const started = await startRelay({ anonymous: true, args });
      try {
        const session = await createSessionViaApi(started);
        assert.equal(session.nameplate, '1');
        const output = started.logs.raw.join('\n') + started.stderr.join('\n');
        assert.ok(!output.includes(PASSWORD), `the password is in the relay's output (${args.join(' ')})`);
        assert.ok(!(await readFile(join(started.dir, 'state', 'relay-audit.jsonl'), 'utf8')).includes(PASSWORD), 'nor in its audit log');
      } finally {
        await started.dispose();
      }
    }
    const wrong = join(dir, 'wrong-password');
    await writeFile(wrong, 'not-the-password', { mode: 0o600 });
    const refused = await runCli(relayArgs(`redis://default:${PASSWORD}x@127.0.0.1:${redis!.port}`));
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /session store/);
    assert.ok(!refused.stderr.includes(PASSWORD) && !refused.stdout.includes(PASSWORD), 'a refused password is not shown either');
    const refusedFile = await runCli(relayArgs(redis!.url, '--store-password-file', wrong));
    assert.equal(refusedFile.code, 1, refusedFile.stderr);
    assert.ok(!refusedFile.stderr.includes('not-the-password') && !refusedFile.stdout.includes('not-the-password'));
  });

  it('a relay whose Redis is gone still shuts down cleanly on SIGTERM (exit 0, relay_stopped recorded)', async () => {
    const own = await startRedis();
    let started: StartedRelay | undefined;
    try {
      started = await startRelay({ anonymous: true, args: ['--store', own.url, '--shutdown-grace', '0s'] });
      await createSessionViaApi(started);
      await own.kill();
      const exit = await started.stop('SIGTERM');
      assert.equal(exit.code, 0, started.stderr.join('\n'));
      const audit = await readFile(started.auditLog, 'utf8');
      assert.match(audit, /"relay_stopped"/);
    } finally {
      await started?.dispose();
      await own.stop();
    }
  });

  it('a malformed --store is refused with exit 2 and without echoing credentials', async () => {
    for (const [store, message] of [
      ['http://127.0.0.1:6379', /expected "memory" or redis:\/\/HOST:PORT/],
      [`redis://user:${PASSWORD}@127.0.0.1:6379/x`, /database number/],
      [`redis://user:${PASSWORD}@127.0.0.1:6379/0?password=1`, /no query/],
    ] as const) {
      const result = await within(30_000, `relay --store ${store}`, runCli(relayArgs(store)));
      assert.equal(result.code, 2, `${store}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.ok(!result.stderr.includes(PASSWORD), `${store}: the password is echoed`);
    }
  });
});

describe('relay --store rediss:// (TLS to Redis)', { timeout: 120_000 }, () => {
  let redis: TestRedis | undefined;
  let dir = '';
  let caFile = '';

  before(async () => {
    dir = await privateTempDir('kubepair-rediss-');
    const ca = await CertificateAuthority.create({ commonName: 'test Redis CA' });
    const server = await ca.issueServerCertificate({ ipAddresses: ['127.0.0.1'] });
    caFile = join(dir, 'ca.pem');
    await writeFile(caFile, ca.certPem);
    await writeFile(join(dir, 'redis.pem'), server.certPem);
    await writeFile(join(dir, 'redis-key.pem'), server.keyPem, { mode: 0o600 });
    redis = await startRedis({ tls: { certFile: join(dir, 'redis.pem'), keyFile: join(dir, 'redis-key.pem'), caFile } });
  });
  after(async () => {
    await redis?.stop();
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  });

  it('Security: rediss:// checks the server\'s certificate: trusted through NODE_EXTRA_CA_CERTS it works, untrusted the relay does not start', async () => {
    const trusted = await startRelay({ anonymous: true, args: ['--store', redis!.url], env: { NODE_EXTRA_CA_CERTS: caFile } });
    try {
      assert.equal((await createSessionViaApi(trusted)).nameplate, '1');
    } finally {
      await trusted.dispose();
    }
    const untrusted = await runCli(['relay', '--listen', '127.0.0.1:0', '--auth', 'none', '--audit-log', join(dir, 'audit.jsonl'), '--state-dir', join(dir, 'state'), '--store', redis!.url]);
    assert.equal(untrusted.code, 1, untrusted.stderr);
    assert.match(untrusted.stderr, /session store/);
  });
});
