/**
 * A self-signed CA certificate whose validity crosses 2050 (RFC 5280 §4.1.2.5: UTCTime through
 * 2049, GeneralizedTime from 2050), written by src/tls's own certificate writer, for the tests
 * that read it back with node:crypto and with OpenSSL.
 */
import { generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import {
  KEY_USAGE,
  basicConstraints,
  encodeName,
  keyIdentifier,
  keyUsage,
  signCertificate,
  subjectKeyIdentifier,
} from '../../src/tls/certificate-writer.js';

export interface LongLivedCertificate {
  readonly der: Buffer;
  readonly publicKey: KeyObject;
}

/** Valid 2049-12-31T23:59:59.500Z to 2051-06-30T12:00:00Z, serial 0x00ff, CN "long-lived". */
export function longLivedCertificate(): LongLivedCertificate {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const name = encodeName([{ type: 'CN', value: 'long-lived' }]);
  const der = signCertificate(
    {
      serial: Buffer.from('00ff', 'hex'),
      issuer: name,
      subject: name,
      notBefore: new Date('2049-12-31T23:59:59.500Z'),
      notAfter: new Date('2051-06-30T12:00:00Z'),
      publicKey,
      extensions: [basicConstraints(true), keyUsage(KEY_USAGE.keyCertSign), subjectKeyIdentifier(keyIdentifier(publicKey))],
    },
    privateKey,
  );
  return { der, publicKey };
}
