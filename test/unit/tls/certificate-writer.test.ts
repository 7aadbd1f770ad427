/**
 * The certificate writer (src/tls/certificate-writer.ts) below CertificateAuthority: IP
 * addresses as RFC 5280 wants their octets (every IPv6 text form), certificates outside what
 * the CA's lifetime limits allow it to make (a notAfter after 2049, in GeneralizedTime), read
 * back by node:crypto's X509Certificate, the key identifier and PEM. OpenSSL reads the same in
 * test/integration/tls/openssl-reads-certificates.test.ts.
 */
import assert from 'node:assert/strict';
import { X509Certificate, createHash, generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  certificatePem,
  encodeName,
  ipAddressOctets,
  keyIdentifier,
  signCertificate,
  subjectAltName,
} from '../../../src/tls/certificate-writer.js';
import { longLivedCertificate } from '../../helpers/long-lived-certificate.js';

describe('certificate writer', () => {
  describe('IP address octets (RFC 5280 §4.2.1.6)', () => {
    const cases: Array<[string, string]> = [
      ['127.0.0.1', '7f000001'],
      ['0.0.0.0', '00000000'],
      ['255.255.255.255', 'ffffffff'],
      ['::', '00'.repeat(16)],
      ['::1', `${'00'.repeat(15)}01`],
      ['1::', `0001${'00'.repeat(14)}`],
      ['fe80::1', `fe80${'00'.repeat(13)}01`],
      ['2001:db8::ff00:42:8329', '20010db8000000000000ff0000428329'],
      ['2001:DB8:0:0:8:800:200C:417A', '20010db80000000000080800200c417a'],
      ['1:2:3:4:5:6:7:8', '00010002000300040005000600070008'],
      ['1:2:3:4:5:6:7::', '00010002000300040005000600070000'],
      ['1::8', `0001${'00'.repeat(12)}0008`],
      ['::ffff:192.0.2.1', `${'00'.repeat(10)}ffffc0000201`],
      ['64:ff9b::192.0.2.33', '0064ff9b0000000000000000c0000221'],
    ];
    for (const [address, expected] of cases) {
      it(address, () => assert.equal(ipAddressOctets(address).toString('hex'), expected, address));
    }

    it('refuses what is not an IP address', () => {
      for (const bad of ['localhost', '1.2.3', '1:2:3:4:5:6:7:8:9', '1::2::3', 'fe80::1%eth0', '']) {
        assert.throws(() => ipAddressOctets(bad), RangeError, bad);
      }
    });

    it('X509Certificate matches every form by checkIP', () => {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const addresses = cases.map(([address]) => address);
      const name = encodeName([{ type: 'CN', value: 'ips' }]);
      const der = signCertificate(
        { serial: Buffer.from([1]), issuer: name, subject: name, notBefore: new Date(), notAfter: new Date(Date.now() + 60_000), publicKey, extensions: [subjectAltName([], addresses)] },
        privateKey,
      );
      const cert = new X509Certificate(der);
      for (const address of addresses) assert.equal(cert.checkIP(address), address, address);
      assert.equal(cert.checkIP('::2'), undefined);
    });
  });

  it('a certificate valid past 2049 carries GeneralizedTime, and node:crypto reads both times', () => {
    const { der, publicKey } = longLivedCertificate();
    // The validity: SEQUENCE { UTCTime "491231235959Z", GeneralizedTime "20510630120000Z" }.
    const validity = Buffer.concat([Buffer.from('3020170d', 'hex'), Buffer.from('491231235959Z'), Buffer.from('180f', 'hex'), Buffer.from('20510630120000Z')]);
    assert.ok(der.includes(validity), 'UTCTime for 2049, GeneralizedTime for 2051');
    const cert = new X509Certificate(der);
    assert.equal(new Date(cert.validFrom).toISOString(), '2049-12-31T23:59:59.000Z');
    assert.equal(new Date(cert.validTo).toISOString(), '2051-06-30T12:00:00.000Z');
    assert.equal(cert.serialNumber.toLowerCase(), 'ff', 'the serial 0x00ff is written minimal, positive');
    assert.ok(cert.verify(publicKey));
    assert.equal(cert.ca, true);
  });

  it('the key identifier is the SHA-1 of the public key\'s point, the end of its SubjectPublicKeyInfo', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = publicKey.export({ format: 'der', type: 'spki' });
    const point = spki.subarray(spki.length - 65);
    assert.equal(point[0], 0x04, 'an uncompressed point');
    assert.deepEqual(keyIdentifier(publicKey), createHash('sha1').update(point).digest());
  });

  it('PEM: base64 in lines of 64 characters between the labels', () => {
    const pem = certificatePem(Buffer.alloc(100, 0xfe));
    const lines = pem.split('\n');
    assert.deepEqual([lines[0], lines.at(-2), lines.at(-1)], ['-----BEGIN CERTIFICATE-----', '-----END CERTIFICATE-----', '']);
    assert.deepEqual(lines.slice(1, -2).map((line) => line.length), [64, 64, 8]);
    assert.equal(Buffer.from(lines.slice(1, -2).join(''), 'base64').toString('hex'), 'fe'.repeat(100));
  });
});
