/**
 * Node-to-node authentication (docs/design.md §8.2, plan item 4): the cluster key file is checked
 * like the relay's other secrets, and a node's proof on an internal request holds only for that
 * request, that node, a recent time and one use.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isKubepairError } from '../../../src/errors/index.js';
import { RELAY_CLUSTER_KEY_MAX_BYTES, RELAY_CLUSTER_KEY_MIN_BYTES, RELAY_NODE_PROOF_MAX_SKEW_MS } from '../../../src/limits.js';
import { NODE_HEADER, NODE_NONCE_HEADER, NODE_PROOF_HEADER, NODE_TIME_HEADER, NodeRequestVerifier, loadClusterKey, signNodeRequest } from '../../../src/relay/node-auth.js';
import { privateTempDir } from '../../helpers/relay-process.js';

const keyError = (pattern: RegExp) => (err: unknown): boolean => isKubepairError(err, 'KP_ERR_RELAY_CLUSTER_KEY') && pattern.test((err as Error).message);

const REQUEST = { method: 'GET', path: '/internal/v1/splice/abc?role=client' } as const;
const NODE_A = 'https://relay-a.internal:8443';

describe('cluster key file', () => {
  let dir: string;
  before(async () => {
    dir = await privateTempDir('kubepair-cluster-key-');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  async function keyFile(name: string, content: Buffer | string, mode = 0o600): Promise<string> {
    const path = join(dir, name);
    await writeFile(path, content, { mode });
    await chmod(path, mode);
    return path;
  }

  it('reads a 0600 key; one trailing newline is not part of it', async () => {
    const text = randomBytes(32).toString('base64');
    assert.equal((await loadClusterKey(await keyFile('text', `${text}\n`))).toString('utf8'), text);
    const raw = randomBytes(RELAY_CLUSTER_KEY_MIN_BYTES);
    assert.deepEqual(await loadClusterKey(await keyFile('raw', raw)), raw);
  });

  it('Security: refuses a key readable by others, a symbolic link, a directory, a missing file, too short or too long a key', async () => {
    const good = randomBytes(32).toString('base64');
    await assert.rejects(loadClusterKey(await keyFile('wide', good, 0o640)), keyError(/readable or writable by other users \(mode 640\)/));
    await assert.rejects(loadClusterKey(await keyFile('world', good, 0o604)), keyError(/mode 604/));
    const target = await keyFile('target', good);
    await symlink(target, join(dir, 'link'));
    await assert.rejects(loadClusterKey(join(dir, 'link')), keyError(/symbolic link/));
    await mkdir(join(dir, 'a-dir'), { mode: 0o700 });
    await assert.rejects(loadClusterKey(join(dir, 'a-dir')), keyError(/not a regular file/));
    await assert.rejects(loadClusterKey(join(dir, 'missing')), keyError(/cannot open .*ENOENT/));
    await assert.rejects(loadClusterKey(await keyFile('short', `${'k'.repeat(RELAY_CLUSTER_KEY_MIN_BYTES - 1)}\n`)), keyError(/holds 31 bytes; a cluster key has at least 32/));
    await assert.rejects(loadClusterKey(await keyFile('long', 'k'.repeat(RELAY_CLUSTER_KEY_MAX_BYTES + 1))), keyError(/larger than 1024 bytes/));
  });
});

describe('Security: node proofs on internal requests', () => {
  const key = randomBytes(32);
  let clock = 1_800_000_000_000;
  const now = (): number => clock;

  it('a proof made with the cluster key is accepted once and names the calling node', () => {
    const verifier = new NodeRequestVerifier(key, { now });
    const headers = signNodeRequest(key, NODE_A, REQUEST, clock);
    assert.deepEqual(verifier.verify(REQUEST, headers), { ok: true, nodeId: NODE_A });
    assert.deepEqual(verifier.verify(REQUEST, headers), { ok: false, reason: 'replayed nonce' });
    assert.equal(verifier.verify(REQUEST, signNodeRequest(key, NODE_A, REQUEST, clock)).ok, true, 'a fresh nonce is accepted');
  });

  it('refuses a proof under another key, for another request, node, time or nonce', () => {
    const verifier = new NodeRequestVerifier(key, { now });
    const wrongKey = signNodeRequest(randomBytes(32), NODE_A, REQUEST, clock);
    assert.deepEqual(verifier.verify(REQUEST, wrongKey), { ok: false, reason: 'wrong proof' });
    const headers = signNodeRequest(key, NODE_A, REQUEST, clock);
    assert.deepEqual(verifier.verify({ ...REQUEST, path: '/internal/v1/splice/other?role=client' }, headers), { ok: false, reason: 'wrong proof' });
    assert.deepEqual(verifier.verify({ ...REQUEST, method: 'POST' }, headers), { ok: false, reason: 'wrong proof' });
    assert.deepEqual(verifier.verify(REQUEST, { ...headers, [NODE_HEADER]: 'https://relay-b.internal:8443' }), { ok: false, reason: 'wrong proof' });
    assert.deepEqual(verifier.verify(REQUEST, { ...headers, [NODE_TIME_HEADER]: String(clock + 1) }), { ok: false, reason: 'wrong proof' });
    assert.deepEqual(verifier.verify(REQUEST, { ...headers, [NODE_NONCE_HEADER]: randomBytes(16).toString('base64url') }), { ok: false, reason: 'wrong proof' });
    // None of these tries spent the genuine proof's nonce.
    assert.equal(verifier.verify(REQUEST, headers).ok, true);
  });

  it('refuses a proof older or newer than the allowed clock skew, and remembers nonces as long as it accepts their time', () => {
    const verifier = new NodeRequestVerifier(key, { now });
    const start = clock;
    const old = signNodeRequest(key, NODE_A, REQUEST, start - RELAY_NODE_PROOF_MAX_SKEW_MS - 1);
    assert.deepEqual(verifier.verify(REQUEST, old), { ok: false, reason: 'proof time outside the allowed clock skew' });
    const future = signNodeRequest(key, NODE_A, REQUEST, start + RELAY_NODE_PROOF_MAX_SKEW_MS + 1);
    assert.deepEqual(verifier.verify(REQUEST, future), { ok: false, reason: 'proof time outside the allowed clock skew' });
    const edge = signNodeRequest(key, NODE_A, REQUEST, start + RELAY_NODE_PROOF_MAX_SKEW_MS);
    assert.equal(verifier.verify(REQUEST, edge).ok, true);
    // The proof stays within the skew until start + 2 × skew; its nonce is remembered that long.
    clock = start + 2 * RELAY_NODE_PROOF_MAX_SKEW_MS - 1;
    assert.deepEqual(verifier.verify(REQUEST, edge), { ok: false, reason: 'replayed nonce' });
    clock = start;
  });

  it('refuses missing, repeated or malformed headers', () => {
    const verifier = new NodeRequestVerifier(key, { now });
    const headers = signNodeRequest(key, NODE_A, REQUEST, clock);
    for (const name of [NODE_HEADER, NODE_TIME_HEADER, NODE_NONCE_HEADER, NODE_PROOF_HEADER]) {
      const { [name]: _dropped, ...rest } = headers;
      assert.deepEqual(verifier.verify(REQUEST, rest), { ok: false, reason: 'missing proof headers' }, name);
      assert.deepEqual(verifier.verify(REQUEST, { ...headers, [name]: [headers[name] ?? '', headers[name] ?? ''] }), { ok: false, reason: 'missing proof headers' }, name);
    }
    for (const [name, value] of [
      [NODE_HEADER, 'https://relay a'],
      [NODE_TIME_HEADER, '-1'],
      [NODE_TIME_HEADER, '1e12'],
      [NODE_NONCE_HEADER, 'short'],
      [NODE_PROOF_HEADER, `${headers[NODE_PROOF_HEADER] ?? ''}=`],
    ] as const) {
      assert.deepEqual(verifier.verify(REQUEST, { ...headers, [name]: value }), { ok: false, reason: 'malformed proof headers' }, `${name}=${value}`);
    }
  });

  it('a full nonce memory refuses new proofs instead of forgetting a nonce early, and makes room as they age out', () => {
    const verifier = new NodeRequestVerifier(key, { now, noncesRemembered: 2 });
    const start = clock;
    assert.equal(verifier.verify(REQUEST, signNodeRequest(key, NODE_A, REQUEST, clock)).ok, true);
    assert.equal(verifier.verify(REQUEST, signNodeRequest(key, NODE_A, REQUEST, clock)).ok, true);
    assert.deepEqual(verifier.verify(REQUEST, signNodeRequest(key, NODE_A, REQUEST, clock)), { ok: false, reason: 'too many recent internal requests' });
    clock = start + 2 * RELAY_NODE_PROOF_MAX_SKEW_MS;
    assert.equal(verifier.verify(REQUEST, signNodeRequest(key, NODE_A, REQUEST, clock)).ok, true);
    clock = start;
  });
});
