/**
 * X.509 v3 certificates as src/tls issues them (RFC 5280 §4.1; docs/design.md §6), written with
 * the DER writer (der.ts) and signed with node:crypto: ECDSA P-256 with SHA-256 (RFC 5758
 * §3.2, the signature DER-encoded as RFC 5480 §2.2 wants). Only the fields and extensions the
 * throw-away CAs use are written: version 3, a serial, the issuer and subject names (CN and O
 * attributes, one per RDN), the validity, the subject public key exactly as node:crypto exports
 * it (SubjectPublicKeyInfo), and basicConstraints, keyUsage, extKeyUsage, subjectAltName (DNS
 * names, IP addresses), subjectKeyIdentifier and authorityKeyIdentifier (RFC 5280 §4.2.1).
 * No cryptography is written here: keys, hashes and signatures come from node:crypto.
 *
 * Input: kubepair's own values; names, addresses and lifetimes are checked by
 * certificate-request.ts before they get here.
 */
import { createHash, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { ipv6Groups } from '../net/ip-address.js';
import {
  bitString,
  boolean,
  explicitTag,
  implicitPrimitive,
  isPrintable,
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
} from './der.js';

/** Object identifiers used in the certificates (RFC 5280 §4.1.2.4, §4.2.1; RFC 5758 §3.2). */
const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  commonName: '2.5.4.3',
  organizationName: '2.5.4.10',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** keyUsage bits (RFC 5280 §4.2.1.3), as a mask: bit n is 1 << n. */
export const KEY_USAGE = {
  digitalSignature: 1 << 0,
  keyCertSign: 1 << 5,
  cRLSign: 1 << 6,
} as const;

/** One attribute of a distinguished name: the common name or an organization. */
export interface NameAttribute {
  readonly type: 'CN' | 'O';
  readonly value: string;
}

/** An extension, ready to go into a certificate's extension list. */
export type CertificateExtension = Buffer & { readonly __extension: true };

/**
 * A Name (RFC 5280 §4.1.2.4): an RDNSequence with one attribute per RelativeDistinguishedName,
 * in the given order. A value is a PrintableString when its characters allow one and a
 * UTF8String otherwise (both DirectoryString choices, §4.1.2.6); it is written as given, never
 * parsed for DN escapes, so `eve, O=system:masters` stays one CN.
 */
export function encodeName(attributes: readonly NameAttribute[]): Buffer {
  return sequence(
    ...attributes.map(({ type, value }) =>
      setOf(sequence(objectIdentifier(type === 'CN' ? OID.commonName : OID.organizationName), isPrintable(value) ? printableString(value) : utf8String(value))),
    ),
  );
}

/** Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING } (§4.1); DER leaves out a FALSE critical. */
function extension(oid: string, critical: boolean, value: Buffer): CertificateExtension {
  const parts = critical ? [objectIdentifier(oid), boolean(true), octetString(value)] : [objectIdentifier(oid), octetString(value)];
  return sequence(...parts) as CertificateExtension;
}

/** basicConstraints (§4.2.1.9), critical: a CA with an optional path length, or not a CA (cA FALSE is the default, so left out). */
export function basicConstraints(ca: boolean, pathLength?: number): CertificateExtension {
  const fields = ca ? [boolean(true), ...(pathLength === undefined ? [] : [smallInteger(pathLength)])] : [];
  return extension(OID.basicConstraints, true, sequence(...fields));
}

/** keyUsage (§4.2.1.3), critical; `bits` from KEY_USAGE. */
export function keyUsage(bits: number): CertificateExtension {
  return extension(OID.keyUsage, true, namedBitString(bits));
}

/** extKeyUsage (§4.2.1.12), not critical: TLS server or client authentication. */
export function extendedKeyUsage(purpose: 'serverAuth' | 'clientAuth'): CertificateExtension {
  return extension(OID.extKeyUsage, false, sequence(objectIdentifier(OID[purpose])));
}

/** The 4 or 16 octets of an IPv4 or IPv6 address (§4.2.1.6: iPAddress in network byte order). */
export function ipAddressOctets(address: string): Buffer {
  if (isIP(address) === 4) return Buffer.from(address.split('.').map(Number));
  // Every IPv6 form RFC 4291 §2.2 allows (`::`, a dotted IPv4 tail); a `%zone` names no address.
  const groups = address.includes('%') ? undefined : ipv6Groups(address);
  if (groups === undefined) throw new RangeError(`"${address}" is not an IP address`);
  const octets = Buffer.alloc(16);
  groups.forEach((group, i) => octets.writeUInt16BE(group, i * 2));
  return octets;
}

/** subjectAltName (§4.2.1.6), not critical (the subject is not empty): dNSName [2] and iPAddress [7] entries, DNS names first. */
export function subjectAltName(dnsNames: readonly string[], ipAddresses: readonly string[]): CertificateExtension {
  const names = [...dnsNames.map((name) => implicitPrimitive(2, Buffer.from(name, 'latin1'))), ...ipAddresses.map((ip) => implicitPrimitive(7, ipAddressOctets(ip)))];
  return extension(OID.subjectAltName, false, sequence(...names));
}

/**
 * The key identifier of a public key (§4.2.1.2, method 1): the SHA-1 of the subjectPublicKey
 * BIT STRING's value, which for an EC key is the uncompressed point 0x04 || x || y (RFC 5480
 * §2.2). An identifier, not a security function.
 */
export function keyIdentifier(publicKey: KeyObject): Buffer {
  const jwk = publicKey.export({ format: 'jwk' });
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || jwk.x === undefined || jwk.y === undefined) throw new RangeError('not a P-256 public key');
  const point = Buffer.concat([Buffer.from([0x04]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
  return createHash('sha1').update(point).digest();
}

/** subjectKeyIdentifier (§4.2.1.2), not critical. */
export function subjectKeyIdentifier(keyId: Uint8Array): CertificateExtension {
  return extension(OID.subjectKeyIdentifier, false, octetString(keyId));
}

/** authorityKeyIdentifier (§4.2.1.1), not critical: the issuer's key identifier only ([0] keyIdentifier). */
export function authorityKeyIdentifier(keyId: Uint8Array): CertificateExtension {
  return extension(OID.authorityKeyIdentifier, false, sequence(implicitPrimitive(0, keyId)));
}

/** What goes into a certificate's TBSCertificate (§4.1.2). */
export interface CertificateFields {
  /** The serial's big-endian magnitude (positive, §4.1.2.2). */
  readonly serial: Uint8Array;
  /** The issuer's and the subject's names, encoded (encodeName). */
  readonly issuer: Buffer;
  readonly subject: Buffer;
  /** Whole seconds are kept (x509Time). */
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The subject's P-256 public key. */
  readonly publicKey: KeyObject;
  readonly extensions: readonly CertificateExtension[];
}

/** Write the TBSCertificate, sign it with the issuer's P-256 private key, and return the Certificate's DER (§4.1.1). */
export function signCertificate(fields: CertificateFields, issuerKey: KeyObject): Buffer {
  const algorithm = sequence(objectIdentifier(OID.ecdsaWithSha256)); // parameters absent (RFC 5758 §3.2)
  const tbs = sequence(
    explicitTag(0, smallInteger(2)), // version v3
    unsignedInteger(fields.serial),
    algorithm,
    fields.issuer,
    sequence(x509Time(fields.notBefore), x509Time(fields.notAfter)),
    fields.subject,
    fields.publicKey.export({ format: 'der', type: 'spki' }),
    explicitTag(3, sequence(...fields.extensions)),
  );
  // node:crypto hashes with SHA-256 and writes the ECDSA signature as DER (its default dsaEncoding).
  const signature = sign('sha256', tbs, issuerKey);
  return sequence(tbs, algorithm, bitString(signature));
}

/** PEM of a certificate's DER (RFC 7468 §5): base64 in lines of 64 characters. */
export function certificatePem(der: Uint8Array): string {
  const lines = Buffer.from(der).toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`;
}
