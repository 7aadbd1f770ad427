/**
 * A throw-away certificate authority (docs/design.md §6): the client makes one per session for its
 * local TLS listener, and the test API server makes one for itself. It issues short-lived
 * server certificates (DNS and IP subjectAltNames) and client certificates (CN = user,
 * O = groups: how Kubernetes' x509 authenticator reads an identity) and returns PEM.
 *
 * Keys are ECDSA P-256 from node:crypto, certificates are written by certificate-writer.ts and
 * signed with SHA-256. The CA's private key stays in a private field of this object: it signs
 * inside this process and is never exported, logged or written anywhere; dropping the
 * CertificateAuthority object is how it is destroyed. Serial numbers are 128 random bits from
 * node:crypto (RFC 5280 §4.1.2.2, and CA/B Forum practice of unpredictable serials). A leaf
 * never outlives its CA: its notAfter is clamped to the CA's.
 *
 * Untrusted input: the options of `create`, `issueServerCertificate` and
 * `issueClientCertificate`, checked by certificate-request.ts before any key is generated.
 */
import { generateKeyPair as generateKeyPairCallback, randomBytes } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { KubepairError } from '../errors/index.js';
import { TLS_NOT_BEFORE_BACKDATE_MS, TLS_SERIAL_BYTES } from '../limits.js';
import {
  checkClientCertificateRequest,
  checkServerCertificateRequest,
  checkSubjectValue,
  checkValidityMs,
} from './certificate-request.js';
import type { CertificateExtension, NameAttribute } from './certificate-writer.js';
import {
  KEY_USAGE,
  authorityKeyIdentifier,
  basicConstraints,
  certificatePem,
  encodeName,
  extendedKeyUsage,
  keyIdentifier,
  keyUsage,
  signCertificate,
  subjectAltName,
  subjectKeyIdentifier,
} from './certificate-writer.js';

/** A certificate and its private key, both PEM, as node:tls and kubeconfig files take them. */
export interface IssuedCertificate {
  /** The certificate, `-----BEGIN CERTIFICATE-----`. */
  readonly certPem: string;
  /** Its PKCS #8 private key, `-----BEGIN PRIVATE KEY-----`. A secret: never log it. */
  readonly keyPem: string;
  /** Serial number, lowercase hex. */
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface CertificateAuthorityOptions {
  /** Subject CN of the CA, e.g. `kubepair session CA`. */
  readonly commonName: string;
  /** Lifetime in ms; default TLS_DEFAULT_VALIDITY_MS, at most TLS_MAX_VALIDITY_MS. */
  readonly validityMs?: number;
}

export interface ServerCertificateOptions {
  /** Subject CN; defaults to the first DNS name (or IP). Clients match subjectAltNames only. */
  readonly commonName?: string;
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  /** Lifetime in ms; clamped to the CA's notAfter. */
  readonly validityMs?: number;
}

export interface ClientCertificateOptions {
  /** The Kubernetes user name (subject CN). */
  readonly user: string;
  /** The Kubernetes groups (one subject O attribute each). */
  readonly groups?: readonly string[];
  /** Lifetime in ms; clamped to the CA's notAfter. */
  readonly validityMs?: number;
}

/** A positive DER INTEGER of TLS_SERIAL_BYTES random bytes: top bit clear, first byte non-zero. */
function randomSerialNumber(): Buffer {
  const bytes = randomBytes(TLS_SERIAL_BYTES);
  // Clear the sign bit (a negative serial is invalid) and keep the first byte non-zero, so
  // the DER encoding is minimal and the serial has a fixed length.
  bytes[0] = (bytes[0]! & 0x7f) || 0x01;
  return bytes;
}

const generateKeyPair = promisify(generateKeyPairCallback);

/** A fresh ECDSA P-256 key pair (node:crypto, generated off the main thread). */
function generateP256(): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  return generateKeyPair('ec', { namedCurve: 'P-256' });
}

/** `date` without its milliseconds: a certificate's times have whole seconds (RFC 5280 §4.1.2.5). */
function wholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

export class CertificateAuthority {
  /** The CA certificate, PEM: what clients trust (kubeconfig `certificate-authority-data`). */
  readonly certPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The CA's subject, encoded: every certificate it issues names it as issuer. */
  readonly #name: Buffer;
  /** The CA key's identifier: every certificate it issues carries it as authorityKeyIdentifier. */
  readonly #keyId: Buffer;
  readonly #signingKey: KeyObject;

  private constructor(fields: { certPem: string; notBefore: Date; notAfter: Date; name: Buffer; keyId: Buffer; signingKey: KeyObject }) {
    this.certPem = fields.certPem;
    this.notBefore = fields.notBefore;
    this.notAfter = fields.notAfter;
    this.#name = fields.name;
    this.#keyId = fields.keyId;
    this.#signingKey = fields.signingKey;
  }

  /** Create a CA with a fresh P-256 key and a self-signed certificate. */
  static async create(options: CertificateAuthorityOptions): Promise<CertificateAuthority> {
    const commonName = checkSubjectValue(options.commonName, 'commonName');
    const validityMs = checkValidityMs(options.validityMs, 'validityMs');
    try {
      const keys = await generateP256();
      const name = encodeName([{ type: 'CN', value: commonName }]);
      const keyId = keyIdentifier(keys.publicKey);
      const now = Date.now();
      const notBefore = wholeSeconds(now - TLS_NOT_BEFORE_BACKDATE_MS);
      const notAfter = wholeSeconds(now + validityMs);
      const der = signCertificate(
        {
          serial: randomSerialNumber(),
          issuer: name,
          subject: name,
          notBefore,
          notAfter,
          publicKey: keys.publicKey,
          extensions: [
            // pathLen 0: this CA signs leaves only, never another CA (RFC 5280 §4.2.1.9).
            basicConstraints(true, 0),
            keyUsage(KEY_USAGE.keyCertSign | KEY_USAGE.cRLSign),
            subjectKeyIdentifier(keyId),
          ],
        },
        keys.privateKey,
      );
      return new CertificateAuthority({ certPem: certificatePem(der), notBefore, notAfter, name, keyId, signingKey: keys.privateKey });
    } catch (err) {
      throw new KubepairError('KP_ERR_TLS_ISSUE_FAILED', `CA "${commonName}"`, { cause: err });
    }
  }

  /** Issue a TLS server certificate (EKU serverAuth) for the given DNS names and IP addresses. */
  async issueServerCertificate(options: ServerCertificateOptions): Promise<IssuedCertificate> {
    const request = checkServerCertificateRequest(options);
    return this.#issue(`server certificate "${request.commonName}"`, [{ type: 'CN', value: request.commonName }], request.validityMs, [
      extendedKeyUsage('serverAuth'),
      // Non-critical: the subject is not empty (RFC 5280 §4.2.1.6). Clients match these names
      // only, never the CN (RFC 6125 §6.4.4, Go since 1.15).
      subjectAltName(request.dnsNames, request.ipAddresses),
    ]);
  }

  /** Issue a TLS client certificate (EKU clientAuth) for a Kubernetes user and groups. */
  async issueClientCertificate(options: ClientCertificateOptions): Promise<IssuedCertificate> {
    const request = checkClientCertificateRequest(options);
    // One RDN per group: Go's crypto/x509 (and so kube-apiserver) collects every O attribute.
    const subject: NameAttribute[] = [{ type: 'CN', value: request.user }, ...request.groups.map((group) => ({ type: 'O' as const, value: group }))];
    return this.#issue(`client certificate "${request.user}"`, subject, request.validityMs, [extendedKeyUsage('clientAuth')]);
  }

  async #issue(what: string, subject: readonly NameAttribute[], validityMs: number, extensions: readonly CertificateExtension[]): Promise<IssuedCertificate> {
    try {
      const keys = await generateP256();
      const now = Date.now();
      const notBefore = wholeSeconds(Math.max(now - TLS_NOT_BEFORE_BACKDATE_MS, this.notBefore.getTime()));
      const notAfter = wholeSeconds(Math.min(now + validityMs, this.notAfter.getTime()));
      const serial = randomSerialNumber();
      const der = signCertificate(
        {
          serial,
          issuer: this.#name,
          subject: encodeName(subject),
          notBefore,
          notAfter,
          publicKey: keys.publicKey,
          extensions: [
            basicConstraints(false),
            keyUsage(KEY_USAGE.digitalSignature),
            ...extensions,
            subjectKeyIdentifier(keyIdentifier(keys.publicKey)),
            authorityKeyIdentifier(this.#keyId),
          ],
        },
        this.#signingKey,
      );
      return {
        certPem: certificatePem(der),
        keyPem: keys.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
        serialNumber: serial.toString('hex'),
        notBefore,
        notAfter,
      };
    } catch (err) {
      throw new KubepairError('KP_ERR_TLS_ISSUE_FAILED', what, { cause: err });
    }
  }
}
