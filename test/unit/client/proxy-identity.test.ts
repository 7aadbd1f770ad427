/**
 * The proxy-mode listener's throw-away TLS identity (docs/design.md §6), made while pairing runs: a
 * session CA, a server certificate for 127.0.0.1 from it, and a random bearer token.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, it } from 'node:test';
import { createProxyIdentity } from '../../../src/client/proxy-identity.js';

describe('proxy identity', () => {
  it('the server certificate is signed by the session CA and names 127.0.0.1 and localhost', async () => {
    const identity = await createProxyIdentity();
    const ca = new X509Certificate(identity.caPem);
    const leaf = new X509Certificate(identity.certPem);
    assert.ok(ca.ca, 'the CA certificate is a CA');
    assert.ok(leaf.verify(ca.publicKey), 'signed by the session CA');
    assert.equal(leaf.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(leaf.checkHost('localhost'), 'localhost');
    assert.match(ca.subject, /CN=kubepair session CA/);
    assert.match(identity.keyPem, /^-----BEGIN PRIVATE KEY-----/);
  });

  it('Security: every session gets its own CA, key and token; the token is 32 random bytes', async () => {
    const [a, b] = await Promise.all([createProxyIdentity(), createProxyIdentity()]);
    assert.notEqual(a.caPem, b.caPem);
    assert.notEqual(a.keyPem, b.keyPem);
    assert.notEqual(a.token, b.token);
    assert.match(a.token, /^[A-Za-z0-9_-]{43}$/, '32 bytes in base64url');
    assert.ok(!new X509Certificate(a.certPem).verify(new X509Certificate(b.caPem).publicKey), 'another session\'s CA does not vouch for it');
  });
});
