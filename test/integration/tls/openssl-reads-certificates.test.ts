/**
 * OpenSSL reads what src/tls writes (issue 15: the DER writer that replaced @peculiar/x509):
 * `openssl asn1parse` takes apart a structure of every DER type the writer has, with lengths in
 * one, two and three octets; `openssl verify` accepts the CA's server certificate for TLS
 * servers and its client certificate for TLS clients, and nothing else; `openssl x509 -text`
 * shows the fields and extensions, criticality and order included, that the certificates
 * carried before the writer (v3, ECDSA P-256 with SHA-256, basicConstraints and keyUsage
 * critical, extKeyUsage, subjectAltName, subjectKeyIdentifier, authorityKeyIdentifier), also
 * at the size limits and past 2049 (GeneralizedTime). Needs `openssl` on PATH (test/preflight.js).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  boolean,
  explicitTag,
  namedBitString,
  objectIdentifier,
  octetString,
  printableString,
  sequence,
  setOf,
  smallInteger,
  unsignedInteger,
  utf8String,
  x509Time,
} from '../../../src/tls/der.js';
import {
  certificatePem,
  encodeName,
  keyIdentifier,
  signCertificate,
  subjectKeyIdentifier,
} from '../../../src/tls/certificate-writer.js';
import { longLivedCertificate } from '../../helpers/long-lived-certificate.js';
import { CertificateAuthority } from '../../../src/tls/index.js';
import type { IssuedCertificate } from '../../../src/tls/index.js';

/** `openssl ARGS` with `input` on stdin: its exit status and output (stdout, then stderr). */
function openssl(args: readonly string[], input: string | Buffer = ''): { status: number; output: string } {
  try {
    return { status: 0, output: execFileSync('openssl', args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] }) };
  } catch (err) {
    const failed = err as { status: number | null; stdout: string; stderr: string };
    return { status: failed.status ?? -1, output: `${failed.stdout}${failed.stderr}` };
  }
}

describe('OpenSSL reads the DER writer', () => {
  it('OpenSSL reads back a structure of every type, with lengths of 128 and over 256 octets', () => {
    const der = sequence(
      explicitTag(0, smallInteger(2)),
      unsignedInteger(Buffer.from('80'.repeat(16), 'hex')),
      objectIdentifier('1.2.840.10045.4.3.2'),
      setOf(sequence(objectIdentifier('2.5.4.3'), printableString('x'.repeat(128)))),
      sequence(x509Time(new Date('2049-12-31T23:59:59Z')), x509Time(new Date('2050-01-01T00:00:00Z'))),
      utf8String('ü'.repeat(150)), // 300 octets
      octetString(Buffer.alloc(70_000, 1)),
      namedBitString(1 << 8),
      boolean(true),
    );
    const parsed = openssl(['asn1parse', '-inform', 'DER'], der).output;
    assert.match(parsed, /^ {4}0:d=0 {2}hl=5 l= *\d+ cons: SEQUENCE/m);
    assert.match(parsed, /INTEGER +:80808080808080808080808080808080\n/);
    assert.match(parsed, /OBJECT +:ecdsa-with-SHA256/);
    assert.match(parsed, /hl=3 l= 128 prim: +PRINTABLESTRING +:x{128}\n/);
    assert.match(parsed, /UTCTIME +:491231235959Z/);
    assert.match(parsed, /GENERALIZEDTIME +:20500101000000Z/);
    assert.match(parsed, /hl=4 l= 300 prim: UTF8STRING/);
    assert.match(parsed, /hl=5 l=70000 prim: OCTET STRING/);
    assert.match(parsed, /BIT STRING/);
    assert.match(parsed, /BOOLEAN +:255/);
    assert.doesNotMatch(parsed, /error|Error/);
  });

  it('a certificate valid past 2049 carries GeneralizedTime, as OpenSSL reads it', () => {
    const { der } = longLivedCertificate();
    const parsed = openssl(['asn1parse', '-inform', 'DER'], der).output;
    assert.match(parsed, /UTCTIME +:491231235959Z/);
    assert.match(parsed, /GENERALIZEDTIME +:20510630120000Z/);
    assert.match(parsed, /INTEGER +:FF\n/);
    const text = openssl(['x509', '-noout', '-text'], certificatePem(der)).output;
    assert.match(text, /Not After : Jun 30 12:00:00 2051 GMT/);
    assert.match(text, /CA:TRUE\n/, 'no path length when none is given');
  });

  it('the key identifier is the SHA-1 of the public key\'s point, as OpenSSL computes it', () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const name = encodeName([{ type: 'CN', value: 'ski' }]);
    const der = signCertificate(
      { serial: Buffer.from([1]), issuer: name, subject: name, notBefore: new Date(), notAfter: new Date(Date.now() + 60_000), publicKey, extensions: [subjectKeyIdentifier(keyIdentifier(publicKey))] },
      privateKey,
    );
    // `-ext subjectKeyIdentifier` prints ours; `-ocspid` hashes the public key itself (OCSP's issuerKeyHash, SHA-1).
    const ours = openssl(['x509', '-noout', '-ext', 'subjectKeyIdentifier'], certificatePem(der)).output;
    const theirs = openssl(['x509', '-noout', '-ocspid'], certificatePem(der)).output;
    const keyHash = /Public key OCSP hash: *([0-9A-F]+)/.exec(theirs)?.[1];
    assert.ok(keyHash !== undefined, theirs);
    assert.equal(ours.split('\n')[1]!.trim().replaceAll(':', ''), keyHash);
    assert.equal(keyIdentifier(publicKey).toString('hex').toUpperCase(), keyHash);
  });
});

describe('OpenSSL reads the certificates of CertificateAuthority', () => {
  let ca: CertificateAuthority;
  let otherCa: CertificateAuthority;
  let server: IssuedCertificate;
  let client: IssuedCertificate;
  let dir: string;

  before(async () => {
    ca = await CertificateAuthority.create({ commonName: 'kubepair test CA' });
    otherCa = await CertificateAuthority.create({ commonName: 'kubepair test CA' }); // same name, other key
    server = await ca.issueServerCertificate({ dnsNames: ['kubernetes', 'kubernetes.default.svc'], ipAddresses: ['127.0.0.1', '::1'] });
    client = await ca.issueClientCertificate({ user: 'alice', groups: ['devs', 'system:authenticated'] });
    dir = mkdtempSync(join(tmpdir(), 'kubepair-ca-'));
    writeFileSync(join(dir, 'ca.pem'), ca.certPem);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('openssl verify accepts the server certificate for TLS servers and the client certificate for TLS clients only', () => {
    const caFile = join(dir, 'ca.pem');
    assert.deepEqual(openssl(['verify', '-CAfile', caFile, '-purpose', 'sslserver'], server.certPem), { status: 0, output: 'stdin: OK\n' });
    assert.deepEqual(openssl(['verify', '-CAfile', caFile, '-purpose', 'sslclient'], client.certPem), { status: 0, output: 'stdin: OK\n' });
    const wrongPurpose = openssl(['verify', '-CAfile', caFile, '-purpose', 'sslclient'], server.certPem);
    assert.notEqual(wrongPurpose.status, 0);
    assert.match(wrongPurpose.output, /(unsuitable|unsupported) certificate purpose/);
    writeFileSync(join(dir, 'other-ca.pem'), otherCa.certPem);
    const otherChain = openssl(['verify', '-CAfile', join(dir, 'other-ca.pem'), '-purpose', 'sslserver'], server.certPem);
    assert.notEqual(otherChain.status, 0);
    assert.match(otherChain.output, /certificate signature failure|unable to get local issuer/);
  });

  it('the CA certificate: v3, ECDSA P-256 with SHA-256, CA:TRUE pathlen 0 and keyCertSign, cRLSign (both critical), a key identifier', () => {
    const { status, output } = openssl(['x509', '-noout', '-text'], ca.certPem);
    assert.equal(status, 0, output);
    assert.match(output, /Version: 3 \(0x2\)/);
    assert.match(output, /Signature Algorithm: ecdsa-with-SHA256/);
    assert.match(output, /Issuer: CN ?= ?kubepair test CA\n/);
    assert.match(output, /Subject: CN ?= ?kubepair test CA\n/);
    assert.match(output, /ASN1 OID: prime256v1/);
    assert.match(output, /X509v3 Basic Constraints: critical\n +CA:TRUE, pathlen:0\n/);
    assert.match(output, /X509v3 Key Usage: critical\n +Certificate Sign, CRL Sign\n/);
    assert.match(output, /X509v3 Subject Key Identifier: \n +([0-9A-F]{2}:){19}[0-9A-F]{2}\n/);
    const extensions = output.match(/X509v3 [A-Za-z ]+:/g);
    assert.deepEqual(extensions, ['X509v3 extensions:', 'X509v3 Basic Constraints:', 'X509v3 Key Usage:', 'X509v3 Subject Key Identifier:']);
  });

  it('the server certificate: CA:FALSE and digitalSignature (critical), serverAuth, the SANs, its key identifier and the CA\'s', () => {
    const { output } = openssl(['x509', '-noout', '-text'], server.certPem);
    const caText = openssl(['x509', '-noout', '-text'], ca.certPem).output;
    const caKeyId = /X509v3 Subject Key Identifier: \n +([0-9A-F:]+)\n/.exec(caText)?.[1];
    assert.ok(caKeyId !== undefined);
    assert.match(output, /Version: 3 \(0x2\)/);
    assert.match(output, /Issuer: CN ?= ?kubepair test CA\n/);
    assert.match(output, /Subject: CN ?= ?kubernetes\n/);
    assert.match(output, /X509v3 Basic Constraints: critical\n +CA:FALSE\n/);
    assert.match(output, /X509v3 Key Usage: critical\n +Digital Signature\n/);
    assert.match(output, /X509v3 Extended Key Usage: \n +TLS Web Server Authentication\n/);
    assert.match(output, /X509v3 Subject Alternative Name: \n +DNS:kubernetes, DNS:kubernetes.default.svc, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1\n/);
    assert.match(output, new RegExp(`X509v3 Authority Key Identifier: \\n +(keyid:)?${caKeyId}\\n`));
    const extensions = output.match(/X509v3 [A-Za-z ]+:/g);
    assert.deepEqual(extensions, [
      'X509v3 extensions:',
      'X509v3 Basic Constraints:',
      'X509v3 Key Usage:',
      'X509v3 Extended Key Usage:',
      'X509v3 Subject Alternative Name:',
      'X509v3 Subject Key Identifier:',
      'X509v3 Authority Key Identifier:',
    ]);
  });

  it('the client certificate: CN and one O per group, clientAuth, no SANs', () => {
    const { output } = openssl(['x509', '-noout', '-text', '-nameopt', 'RFC2253'], client.certPem);
    assert.match(output, /Subject: O=system:authenticated,O=devs,CN=alice\n/);
    assert.match(output, /X509v3 Extended Key Usage: \n +TLS Web Client Authentication\n/);
    assert.doesNotMatch(output, /Subject Alternative Name/);
  });

  it('openssl verify accepts certificates at the size limits: a CN of 256 octets, 32 groups, 32 SANs', async () => {
    const issued = await ca.issueClientCertificate({ user: 'é'.repeat(128), groups: Array.from({ length: 32 }, (_, i) => `group-${i}-${'g'.repeat(100)}`) });
    const wide = await ca.issueServerCertificate({
      dnsNames: Array.from({ length: 24 }, (_, i) => `host-${i}.${'d'.repeat(60)}.example`),
      ipAddresses: Array.from({ length: 8 }, (_, i) => `2001:db8::${i + 1}`),
    });
    assert.deepEqual(openssl(['verify', '-CAfile', join(dir, 'ca.pem'), '-purpose', 'sslserver'], wide.certPem), { status: 0, output: 'stdin: OK\n' });
    assert.deepEqual(openssl(['verify', '-CAfile', join(dir, 'ca.pem'), '-purpose', 'sslclient'], issued.certPem), { status: 0, output: 'stdin: OK\n' });
    const text = openssl(['x509', '-noout', '-text'], wide.certPem).output;
    assert.match(text, /DNS:host-23\.d+\.example, IP Address:2001:DB8:0:0:0:0:0:1, /);
  });
});
