/**
 * The one place src/tls loads @peculiar/x509 (docs/design.md §6: the per-session throw-away CA).
 *
 * @peculiar/x509 2.x resolves its ASN.1 helpers through tsyringe, which needs the Reflect
 * metadata API before the library is evaluated; `reflect-metadata` (the polyfill the library
 * documents) is loaded first for that, and every module of src/tls reaches the library
 * through this file and never directly.
 *
 * All cryptography runs on Node's own WebCrypto (`node:crypto` `webcrypto`), passed explicitly
 * to every call instead of through the library's global provider, so no other code can swap
 * the implementation underneath us. No input here is untrusted: callers validate first.
 */
import { createRequire } from 'node:module';
import { webcrypto } from 'node:crypto';
import type * as X509Library from '@peculiar/x509';

// Both packages are CommonJS and loaded with `require`, in this order (reflect-metadata
// first, see above). An ESM `import` would make Node 20 lex the library's 3,000-line bundle
// for its exports before loading it (about 30 ms of every `kubepair connect` on a 2-core
// machine, docs/performance.md); `require` loads the same files, same version, same classes.
const require = createRequire(import.meta.url);
require('reflect-metadata');
const x509 = require('@peculiar/x509') as typeof X509Library;

export const {
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
} = x509;
// The classes the callers also name as types.
export type X509Certificate = X509Library.X509Certificate;
export type ExtendedKeyUsageExtension = X509Library.ExtendedKeyUsageExtension;
export type SubjectAlternativeNameExtension = X509Library.SubjectAlternativeNameExtension;
export type { JsonGeneralNames, JsonName } from '@peculiar/x509';

/** The WebCrypto type the library's declarations expect for their `crypto` parameter. */
type LibraryCrypto = NonNullable<Parameters<typeof X509CertificateGenerator.create>[1]>;

/** Node's WebCrypto, passed to every library call. */
export const nodeCrypto: LibraryCrypto = webcrypto;

/** ECDSA P-256 with SHA-256: key generation and signing parameters for every certificate. */
export const EC_P256_SHA256 = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
