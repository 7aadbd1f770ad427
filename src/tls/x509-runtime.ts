/**
 * The one place src/tls loads @peculiar/x509 (DESIGN §6: the per-session throw-away CA).
 *
 * @peculiar/x509 2.x resolves its ASN.1 helpers through tsyringe, which needs the Reflect
 * metadata API before the library is evaluated; `reflect-metadata` (the polyfill the library
 * documents) is imported first for that. ES modules evaluate their imports in order, so every
 * module of src/tls imports the library through this file and never directly.
 *
 * All cryptography runs on Node's own WebCrypto (`node:crypto` `webcrypto`), passed explicitly
 * to every call instead of through the library's global provider, so no other code can swap
 * the implementation underneath us. No input here is untrusted: callers validate first.
 */
import 'reflect-metadata';
// Module requests are evaluated in source order: the polyfill above loads before the library.
export {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  Name,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  X509CertificateGenerator,
} from '@peculiar/x509';
export type { JsonGeneralNames, JsonName } from '@peculiar/x509';
import type { X509CertificateGenerator } from '@peculiar/x509';
import { webcrypto } from 'node:crypto';

/** The WebCrypto type the library's declarations expect for their `crypto` parameter. */
type LibraryCrypto = NonNullable<Parameters<typeof X509CertificateGenerator.create>[1]>;

/** Node's WebCrypto, passed to every library call. */
export const nodeCrypto: LibraryCrypto = webcrypto;

/** ECDSA P-256 with SHA-256: key generation and signing parameters for every certificate. */
export const EC_P256_SHA256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
