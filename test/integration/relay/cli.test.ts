/**
 * `kubepair relay` and `kubepair relay token ...` as real processes from the compiled CLI:
 * token management and file permissions, option validation with clear errors and exit code 2,
 * TLS serving, and the refusal to serve plaintext on a non-loopback address.
 */
import assert from 'node:assert/strict';
import { chmod, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createSession, openRelaySocket, pair } from '../../../src/relay-client/index.js';
import { isKubepairError } from '../../../src/errors/index.js';
import { privateTempDir, runCli, startRelay } from '../../helpers/relay-process.js';
import { repoPath } from '../../helpers/paths.js';

const TLS = {
  certFile: repoPath('test/fixtures/relay-tls/loopback.crt'),
  keyFile: repoPath('test/fixtures/relay-tls/loopback.key'),
  otherKeyFile: repoPath('test/fixtures/relay-tls/other.key'),
};

const T = { timeout: 30_000 };

describe('kubepair relay token', { timeout: 300_000 }, () => {
  let dir: string;
  let file: string;
  before(async () => {
    dir = await privateTempDir('kubepair-tokens-');
    file = join(dir, 'conf', 'tokens.json');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('create prints a kprt_ token once; the file holds only its SHA-256, mode 0600 in a 0700 directory', T, async () => {
    const created = await runCli(['relay', 'token', 'create', '--scope', 'agent', '--name', 'ci-agent', '--tokens-file', file]);
    assert.equal(created.code, 0, created.stderr);
    const token = created.stdout.trim();
    assert.match(token, /^kprt_[A-Za-z0-9_-]{43}$/);
    assert.match(created.stderr, /shown only this once/);
    const text = await readFile(file, 'utf8');
    assert.ok(!text.includes(token), 'the token itself is not stored');
    assert.match(text, /"sha256": "[0-9a-f]{64}"/);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(join(dir, 'conf'))).mode & 0o777, 0o700);
  });

  it('list shows name, scope, created and last use, never a token or digest', T, async () => {
    await runCli(['relay', 'token', 'create', '--scope', 'metrics', '--name', 'prometheus', '--tokens-file', file]);
    const listed = await runCli(['relay', 'token', 'list', '--tokens-file', file]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^NAME\s+SCOPE\s+CREATED\s+LAST USED$/m);
    assert.match(listed.stdout, /^ci-agent\s+agent\s+\d{4}-\d\d-\d\dT\S+\s+never$/m);
    assert.match(listed.stdout, /^prometheus\s+metrics\s/m);
    assert.ok(!/kprt_|[0-9a-f]{64}/.test(listed.stdout), 'no token, no digest');
    const json = await runCli(['relay', 'token', 'list', '--json', '--tokens-file', file]);
    const rows = JSON.parse(json.stdout) as Array<Record<string, unknown>>;
    assert.deepEqual(Object.keys(rows[0] ?? {}).sort(), ['created_at', 'last_used_at', 'name', 'scope']);
  });

  it('the environment variable KUBEPAIR_RELAY_TOKENS_FILE picks the file', T, async () => {
    const listed = await runCli(['relay', 'token', 'list'], { KUBEPAIR_RELAY_TOKENS_FILE: file });
    assert.match(listed.stdout, /ci-agent/);
  });

  it('create refuses a duplicate name, a bad scope and a bad name, with exit code 2', T, async () => {
    const dup = await runCli(['relay', 'token', 'create', '--scope', 'agent', '--name', 'ci-agent', '--tokens-file', file]);
    assert.equal(dup.code, 2);
    assert.match(dup.stderr, /^kubepair: a relay token with this name already exists/);
    const scope = await runCli(['relay', 'token', 'create', '--scope', 'root', '--name', 'x', '--tokens-file', file]);
    assert.equal(scope.code, 2);
    assert.match(scope.stderr, /scope "root": use one of agent, client, metrics, admin/);
    const name = await runCli(['relay', 'token', 'create', '--scope', 'agent', '--name', '../etc', '--tokens-file', file]);
    assert.equal(name.code, 2);
    assert.match(name.stderr, /token name/);
    assert.ok(!/\n\s+at /.test(dup.stderr + scope.stderr + name.stderr), 'no stack trace');
  });

  it('revoke removes a token; revoking an unknown name fails with exit code 2', T, async () => {
    const revoked = await runCli(['relay', 'token', 'revoke', 'prometheus', '--tokens-file', file]);
    assert.equal(revoked.code, 0, revoked.stderr);
    const listed = await runCli(['relay', 'token', 'list', '--tokens-file', file]);
    assert.ok(!listed.stdout.includes('prometheus'));
    const again = await runCli(['relay', 'token', 'revoke', 'prometheus', '--tokens-file', file]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /no relay token has this name/);
  });

  it('Security: a tokens file open to other users, or in an open directory, is refused', T, async () => {
    await chmod(file, 0o644);
    const open = await runCli(['relay', 'token', 'list', '--tokens-file', file]);
    assert.equal(open.code, 1);
    assert.match(open.stderr, /readable or writable by other users \(mode 644\); run: chmod 600/);
    await chmod(file, 0o600);
    await chmod(join(dir, 'conf'), 0o755);
    const openDir = await runCli(['relay', 'token', 'list', '--tokens-file', file]);
    assert.equal(openDir.code, 1);
    assert.match(openDir.stderr, /open to other users \(mode 755\); run: chmod 700/);
    await chmod(join(dir, 'conf'), 0o700);
  });

  it('Security: a relay does not start without a usable tokens file', T, async () => {
    const missing = await runCli(['relay', '--listen', '127.0.0.1:0', '--tokens-file', join(dir, 'none.json'), '--audit-log', join(dir, 'a.jsonl'), '--state-dir', join(dir, 'state')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /does not exist; create a token with "kubepair relay token create/);
    const broken = join(dir, 'conf', 'broken.json');
    await writeFile(broken, '{"version":1,"tokens":[{"name":"x"}]}', { mode: 0o600 });
    const bad = await runCli(['relay', '--listen', '127.0.0.1:0', '--tokens-file', broken, '--audit-log', join(dir, 'a.jsonl'), '--state-dir', join(dir, 'state')]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /is not a kubepair tokens file/);
  });
});

describe('kubepair relay options', { timeout: 300_000 }, () => {
  let dir: string;
  before(async () => {
    dir = await privateTempDir('kubepair-relay-opts-');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const base = (): string[] => ['relay', '--auth', 'none', '--audit-log', join(dir, 'audit.jsonl'), '--state-dir', join(dir, 'state')];

  // One relay process per case, so on a loaded machine this takes longer than one start.
  it('refuses invalid limits with a message naming the flag or the variable, exit code 2', { timeout: 120_000 }, async () => {
    const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
      [['--session-ttl', '120'], {}, /--session-ttl="120": expected a duration with a unit/],
      [['--session-ttl', '0s'], {}, /--session-ttl="0s": must be between 100ms and 1d/],
      [['--max-message-size', '64MiB'], {}, /--max-message-size="64MiB": must be between 128KiB and 16MiB/],
      [['--max-sessions', 'many'], {}, /--max-sessions="many": expected a whole number/],
      [[], { KUBEPAIR_RELAY_RATE_LIMIT: '-5' }, /KUBEPAIR_RELAY_RATE_LIMIT="-5": expected a whole number/],
      [['--ping-interval', '60s', '--peer-timeout', '30s'], {}, /--peer-timeout \(30s\) must be longer than --ping-interval \(60s\)/],
      [['--listen', 'localhost'], {}, /--listen="localhost": expected HOST:PORT/],
      [['--listen', '127.0.0.1:70000'], {}, /expected HOST:PORT/],
      [['--auth', 'maybe'], {}, /--auth="maybe": expected "tokens" or "none"/],
      [['--log-level', 'loud'], {}, /--log-level="loud": expected one of/],
      [['--allow-origin', 'https://ops.example.com/path'], {}, /must be exactly scheme:\/\/host\[:port\]/],
      [['--trust-proxy', '10.0.0.0/40'], {}, /--trust-proxy="10.0.0.0\/40": expected an IP address, a CIDR range/],
      [['--tls-cert', join(dir, 'c.pem')], {}, /--tls-cert and --tls-key go together/],
      [[], { KUBEPAIR_RELAY_INSECURE_NO_TLS: 'sure' }, /KUBEPAIR_RELAY_INSECURE_NO_TLS="sure": expected 1, true, yes, 0, false or no/],
    ];
    for (const [args, env, message] of cases) {
      const result = await runCli([...base(), '--listen', '127.0.0.1:0', ...args], env);
      assert.equal(result.code, 2, `${args.join(' ')} ${JSON.stringify(env)}: ${result.stderr}`);
      assert.match(result.stderr, message);
      assert.match(result.stderr, /^kubepair: invalid relay configuration: /);
    }
  });

  it('a flag wins over its environment variable', T, async () => {
    const result = await runCli([...base(), '--listen', '127.0.0.1:0', '--max-sessions', 'x'], { KUBEPAIR_RELAY_MAX_SESSIONS: '10' });
    assert.match(result.stderr, /--max-sessions="x"/);
  });

  it('Security: refuses plaintext on a non-loopback address unless --insecure-no-tls', T, async () => {
    const refused = await runCli([...base(), '--listen', '192.0.2.1:0']);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /refusing to listen on 192\.0\.2\.1 without TLS: pass --tls-cert and --tls-key/);
    // With the flag the check passes; 192.0.2.1 (TEST-NET-1) is not on this machine, so listen fails.
    const allowed = await runCli([...base(), '--listen', '192.0.2.1:0', '--insecure-no-tls']);
    assert.equal(allowed.code, 1);
    assert.match(allowed.stderr, /WARNING: --insecure-no-tls/);
    assert.match(allowed.stderr, /the relay cannot listen on the address: 192\.0\.2\.1:0/);
  });

  it('an address already in use fails with KP_ERR_RELAY_LISTEN, exit code 1', T, async () => {
    const first = await startRelay({ anonymous: true });
    try {
      const second = await runCli([...base(), '--listen', `127.0.0.1:${first.port}`]);
      assert.equal(second.code, 1);
      assert.match(second.stderr, /the relay cannot listen on the address: 127\.0\.0\.1:\d+: .*EADDRINUSE/);
    } finally {
      await first.dispose();
    }
  });

  it('unreadable or mismatched TLS files fail start-up with exit code 2', T, async () => {
    const missing = await runCli([...base(), '--listen', '127.0.0.1:0', '--tls-cert', join(dir, 'nope.crt'), '--tls-key', join(dir, 'nope.key')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot load the relay TLS certificate or key: cannot read --tls-cert/);
    const mismatched = await runCli([...base(), '--listen', '127.0.0.1:0', '--tls-cert', TLS.certFile, '--tls-key', TLS.otherKeyFile]);
    assert.equal(mismatched.code, 2);
    assert.match(mismatched.stderr, /are not a matching PEM certificate and key/);
  });

  it('Security: a relay secret file readable by other users (0644) stops the relay: exit 1, one line saying why, the file left as it was', T, async () => {
    const stateDir = join(dir, 'leaky-state');
    const secretFile = join(stateDir, 'session-key-secret');
    // A first start creates the secret (0600 in a 0700 directory) and lets the relay listen.
    const first = await startRelay({ anonymous: true, args: ['--state-dir', stateDir] });
    await first.dispose();
    assert.equal((await stat(secretFile)).mode & 0o777, 0o600);
    const secret = await readFile(secretFile);
    await chmod(secretFile, 0o644);
    const refused = await runCli([...base(), '--listen', '127.0.0.1:0', '--state-dir', stateDir]);
    assert.equal(refused.code, 1, refused.stderr);
    assert.match(refused.stderr, /^kubepair: the relay state directory cannot be used: .*session-key-secret is readable or writable by other users \(mode 644\); it may have leaked: remove it \(this ends every session\) and restart$/m);
    assert.doesNotMatch(refused.stderr, /\n\s+at /, 'no stack trace');
    assert.equal(refused.stderr.split('\n').filter((line) => line.startsWith('kubepair: ')).length, 1, 'one error line');
    assert.doesNotMatch(refused.stderr, /listening on/);
    assert.deepEqual(await readFile(secretFile), secret, 'neither used nor replaced');
    assert.equal((await stat(secretFile)).mode & 0o777, 0o644);
  });

  it('relay --help documents every limit with its default and examples', T, async () => {
    const help = await runCli(['relay', '--help']);
    assert.equal(help.code, 0);
    for (const text of ['--session-ttl <duration>', '(default: 120s)', '(default: 8h)', '--max-message-size', '(default: 16MiB)', '--rate-limit', 'KUBEPAIR_RELAY_MAX_SESSIONS', 'Examples:']) {
      assert.ok(help.stdout.includes(text), `help mentions ${text}`);
    }
  });
});

describe('kubepair relay over TLS', { timeout: 300_000 }, () => {
  it('serves HTTPS and WSS with --tls-cert/--tls-key; the relay client talks to it with the CA', T, async () => {
    const ca = await readFile(TLS.certFile, 'utf8');
    const relay = await startRelay({ args: ['--tls-cert', TLS.certFile, '--tls-key', TLS.keyFile] });
    try {
      assert.match(relay.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const agentEndpoint = { url: relay.url, token: relay.tokens.agent, ca };
      const session = await createSession(agentEndpoint);
      const paired = await pair({ url: relay.url, token: relay.tokens.client, ca }, session.nameplate);
      const agent = await openRelaySocket({ endpoint: agentEndpoint, role: 'agent', sessionId: session.sessionId, key: session.agentKey });
      const client = await openRelaySocket({ endpoint: agentEndpoint, role: 'client', sessionId: paired.sessionId, key: paired.clientKey });
      const frame = new Promise<Uint8Array>((resolve) => client.once('message', resolve));
      agent.send(Buffer.from('over tls'));
      assert.equal(Buffer.from(await frame).toString(), 'over tls');
      agent.close();
      client.close();
      // Without the CA the certificate is not trusted: TLS really is in use.
      await assert.rejects(createSession({ url: relay.url, token: relay.tokens.agent }), (err) => isKubepairError(err, 'KP_ERR_RELAY_UNREACHABLE'));
    } finally {
      await relay.dispose();
    }
  });
});
