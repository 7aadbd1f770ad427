/**
 * Public surface of the certificate module (docs/design.md §6): a throw-away CA that issues
 * short-lived server and client certificates as PEM. See certificate-authority.ts.
 */
export { CertificateAuthority } from './certificate-authority.js';
export type {
  CertificateAuthorityOptions,
  ClientCertificateOptions,
  IssuedCertificate,
  ServerCertificateOptions,
} from './certificate-authority.js';
