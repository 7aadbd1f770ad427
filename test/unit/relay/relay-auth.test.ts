/**
 * Relay authentication: bearer tokens in the Authorization header only, checked by digest in
 * constant time, by scope; a running relay follows revocations and fails closed on a broken
 * tokens file.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { isKubepairError } from '../../../src/errors/index.js';
import { AnonymousAuthenticator, ScopeError, TokenAuthenticator, parseBearer } from '../../../src/relay/relay-auth.js';
import { createRelayLogger } from '../../../src/relay/relay-log.js';
import { createToken, readLastUsed, revokeToken } from '../../../src/relay/token-file.js';
import { privateTempDir, within } from '../../helpers/relay-process.js';

class Lines extends Writable {
  readonly lines: Array<Record<string, unknown>> = [];
  override _write(chunk: Buffer, _encoding: string, callback: () => void): void {
    for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
      this.lines.push(JSON.parse(line) as Record<string, unknown>);
      this.emit('line', this.lines.at(-1));
    }
    callback();
  }
}

describe('relay authentication', { timeout: 60_000 }, () => {
  let dir: string;
  let file: string;
  let agent: string;
  let client: string;
  let metrics: string;
  let admin: string;
  const out = new Lines();
  const log = createRelayLogger('debug', out);

  before(async () => {
    dir = await privateTempDir('kubepair-auth-');
    file = join(dir, 'tokens.json');
    agent = await createToken(file, 'agent-1', 'agent');
    client = await createToken(file, 'client-1', 'client');
    metrics = await createToken(file, 'prom', 'metrics');
    admin = await createToken(file, 'ops', 'admin');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('parseBearer accepts only "Bearer <credential>" of the expected shape', () => {
    const format = /^kprt_[A-Za-z0-9_-]{43}$/;
    assert.equal(parseBearer(`Bearer ${agent}`, format, 'token'), agent);
    assert.equal(parseBearer(`bearer ${agent}`, format, 'token'), agent);
    for (const header of [undefined, '', agent, `Basic ${agent}`, `Bearer ${agent} extra`, `Bearer ${agent}x`, 'Bearer kprt_short']) {
      assert.throws(() => parseBearer(header, format, 'token'), (err) => isKubepairError(err, 'KP_ERR_RELAY_UNAUTHORIZED'), String(header));
    }
  });

  it('accepts each token for its scope only; admin also reads metrics', async () => {
    const auth = await TokenAuthenticator.open(file, log);
    try {
      assert.deepEqual(auth.authenticate(`Bearer ${agent}`, ['agent']), { tokenName: 'agent-1', scope: 'agent' });
      assert.deepEqual(auth.authenticate(`Bearer ${client}`, ['client']), { tokenName: 'client-1', scope: 'client' });
      assert.equal(auth.authenticate(`Bearer ${metrics}`, ['metrics', 'admin']).tokenName, 'prom');
      assert.equal(auth.authenticate(`Bearer ${admin}`, ['metrics', 'admin']).tokenName, 'ops');
      assert.throws(
        () => auth.authenticate(`Bearer ${client}`, ['agent']),
        (err) => err instanceof ScopeError && err.code === 'KP_ERR_RELAY_FORBIDDEN' && err.tokenName === 'client-1',
      );
      assert.throws(() => auth.authenticate(`Bearer ${admin}`, ['agent']), (err) => isKubepairError(err, 'KP_ERR_RELAY_FORBIDDEN'));
      assert.throws(() => auth.authenticate(`Bearer kprt_${'x'.repeat(43)}`, ['agent']), (err) => isKubepairError(err, 'KP_ERR_RELAY_UNAUTHORIZED'));
    } finally {
      await auth.close();
    }
  });

  it('records last use and writes it on close, without the token', async () => {
    const auth = await TokenAuthenticator.open(file, log);
    auth.authenticate(`Bearer ${agent}`, ['agent']);
    await auth.close();
    const lastUsed = await readLastUsed(file);
    const digest = createHash('sha256').update(agent).digest('hex');
    assert.ok(Date.now() - Date.parse(lastUsed.get(digest) ?? '') < 60_000, 'the agent token was used just now');
    assert.ok(!(await readFile(`${file}.last-used`, 'utf8')).includes('kprt_'), 'no token in the sidecar');
  });

  it('Security: follows a revocation on disk while running', { timeout: 10_000 }, async () => {
    const extra = await createToken(file, 'temporary', 'agent');
    const auth = await TokenAuthenticator.open(file, log);
    try {
      assert.equal(auth.authenticate(`Bearer ${extra}`, ['agent']).tokenName, 'temporary');
      const reloaded = within(
        5_000,
        'tokens_reloaded',
        new Promise<void>((resolve) => {
          const onLine = (line: Record<string, unknown>): void => {
            if (line.event !== 'tokens_reloaded') return;
            out.off('line', onLine);
            resolve();
          };
          out.on('line', onLine);
        }),
      );
      await revokeToken(file, 'temporary');
      await reloaded;
      assert.throws(() => auth.authenticate(`Bearer ${extra}`, ['agent']), (err) => isKubepairError(err, 'KP_ERR_RELAY_UNAUTHORIZED'));
      assert.equal(auth.authenticate(`Bearer ${agent}`, ['agent']).tokenName, 'agent-1', 'the others still work');
    } finally {
      await auth.close();
    }
  });

  it('Security: fails closed when the tokens file becomes unusable', async () => {
    const sub = await privateTempDir('kubepair-auth-broken-');
    try {
      const broken = join(sub, 'tokens.json');
      const token = await createToken(broken, 'a', 'agent');
      const auth = await TokenAuthenticator.open(broken, log);
      try {
        await writeFile(broken, 'garbage', { mode: 0o600 });
        await auth.reload();
        assert.equal(auth.healthy, false);
        assert.throws(() => auth.authenticate(`Bearer ${token}`, ['agent']), (err) => isKubepairError(err, 'KP_ERR_RELAY_UNAUTHORIZED'));
        assert.ok(out.lines.some((line) => line.event === 'tokens_unusable'));
      } finally {
        await auth.close();
      }
    } finally {
      await rm(sub, { recursive: true, force: true });
    }
  });

  it('--auth none authenticates everyone as anonymous', () => {
    const auth = new AnonymousAuthenticator();
    assert.deepEqual(auth.authenticate(), { tokenName: null, scope: null });
    assert.equal(auth.mode, 'none');
  });
});
