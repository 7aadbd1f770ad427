/**
 * A throw-away certificate authority (docs/design.md §6): the client makes one per session for its
 * local TLS listener, and the test API server makes one for itself. It issues short-lived
 * server certificates (DNS and IP subjectAltNames) and client certificates (CN = user,
 * O = groups: how Kubernetes' x509 authenticator reads an identity) and returns PEM.
 *
 * Keys are ECDSA P-256 with SHA-256 signatures from Node's WebCrypto. The CA's private key is
 * generated non-extractable: it signs inside this process and can never be exported, logged
 * or written anywhere; dropping the CertificateAuthority object is how it is destroyed.
 * Serial numbers are 128 random bits from node:crypto (RFC 5280 §4.1.2.2, and CA/B Forum
 * practice of unpredictable serials). A leaf never outlives its CA: its notAfter is clamped
 * to the CA's.
 *
 * Untrusted input: the options of `create`, `issueServerCertificate` and
 * `issueClientCertificate`, checked by certificate-request.ts before any key is generated.
 */
import { KeyObject, randomBytes, webcrypto } from 'node:crypto';
import { KubepairError } from '../errors/index.js';
import { TLS_NOT_BEFORE_BACKDATE_MS, TLS_SERIAL_BYTES } from '../limits.js';
import {
  checkClientCertificateRequest,
  checkServerCertificateRequest,
  checkSubjectValue,
  checkValidityMs,
} from './certificate-request.js';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  EC_P256_SHA256,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509CertificateGenerator,
  nodeCrypto,
} from './x509-runtime.js';
import type { JsonGeneralNames, JsonName, X509Certificate } from './x509-runtime.js';

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
function randomSerialNumber(): string {
  const bytes = randomBytes(TLS_SERIAL_BYTES);
  // Clear the sign bit (a negative serial is invalid) and keep the first byte non-zero, so
  // the DER encoding is minimal and the serial has a fixed length.
  bytes[0] = (bytes[0]! & 0x7f) || 0x01;
  return bytes.toString('hex');
}

type CryptoKey = webcrypto.CryptoKey;

function generateKeyPair(extractable: boolean): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(EC_P256_SHA256, extractable, ['sign', 'verify']);
}

function privateKeyPem(key: CryptoKey): string {
  return KeyObject.from(key).export({ format: 'pem', type: 'pkcs8' }).toString();
}

export class CertificateAuthority {
  /** The CA certificate, PEM: what clients trust (kubeconfig `certificate-authority-data`). */
  readonly certPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly #certificate: X509Certificate;
  readonly #name: JsonName;
  readonly #signingKey: CryptoKey;

  private constructor(certificate: X509Certificate, name: JsonName, signingKey: CryptoKey) {
    this.#certificate = certificate;
    this.#name = name;
    this.#signingKey = signingKey;
    this.certPem = certificate.toString('pem');
    this.notBefore = certificate.notBefore;
    this.notAfter = certificate.notAfter;
  }

  /** Create a CA with a fresh non-extractable P-256 key and a self-signed certificate. */
  static async create(options: CertificateAuthorityOptions): Promise<CertificateAuthority> {
    const commonName = checkSubjectValue(options.commonName, 'commonName');
    const validityMs = checkValidityMs(options.validityMs, 'validityMs');
    try {
      const keys = await generateKeyPair(false);
      const name: JsonName = [{ CN: [commonName] }];
      const now = Date.now();
      const certificate = await X509CertificateGenerator.createSelfSigned(
        {
          serialNumber: randomSerialNumber(),
          name,
          notBefore: new Date(now - TLS_NOT_BEFORE_BACKDATE_MS),
          notAfter: new Date(now + validityMs),
          signingAlgorithm: EC_P256_SHA256,
          keys,
          extensions: [
            // pathLen 0: this CA signs leaves only, never another CA (RFC 5280 §4.2.1.9).
            new BasicConstraintsExtension(true, 0, true),
            new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign, true),
            await SubjectKeyIdentifierExtension.create(keys.publicKey, false, nodeCrypto),
          ],
        },
        nodeCrypto,
      );
      return new CertificateAuthority(certificate, name, keys.privateKey);
    } catch (err) {
      throw new KubepairError('KP_ERR_TLS_ISSUE_FAILED', `CA "${commonName}"`, { cause: err });
    }
  }

  /** Issue a TLS server certificate (EKU serverAuth) for the given DNS names and IP addresses. */
  async issueServerCertificate(options: ServerCertificateOptions): Promise<IssuedCertificate> {
    const request = checkServerCertificateRequest(options);
    const altNames: JsonGeneralNames = [
      ...request.dnsNames.map((value) => ({ type: 'dns' as const, value })),
      ...request.ipAddresses.map((value) => ({ type: 'ip' as const, value })),
    ];
    return this.#issue(`server certificate "${request.commonName}"`, [{ CN: [request.commonName] }], request.validityMs, [
      new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth], false),
      // Non-critical: the subject is not empty (RFC 5280 §4.2.1.6). Clients match these names
      // only, never the CN (RFC 6125 §6.4.4, Go since 1.15).
      new SubjectAlternativeNameExtension(altNames, false),
    ]);
  }

  /** Issue a TLS client certificate (EKU clientAuth) for a Kubernetes user and groups. */
  async issueClientCertificate(options: ClientCertificateOptions): Promise<IssuedCertificate> {
    const request = checkClientCertificateRequest(options);
    // One RDN per group: Go's crypto/x509 (and so kube-apiserver) collects every O attribute.
    const subject: JsonName = [{ CN: [request.user] }, ...request.groups.map((group) => ({ O: [group] }))];
    return this.#issue(`client certificate "${request.user}"`, subject, request.validityMs, [
      new ExtendedKeyUsageExtension([ExtendedKeyUsage.clientAuth], false),
    ]);
  }

  async #issue(
    what: string,
    subject: JsonName,
    validityMs: number,
    extensions: ReadonlyArray<ExtendedKeyUsageExtension | SubjectAlternativeNameExtension>,
  ): Promise<IssuedCertificate> {
    try {
      const keys = await generateKeyPair(true);
      const now = Date.now();
      const notAfter = new Date(Math.min(now + validityMs, this.notAfter.getTime()));
      const certificate = await X509CertificateGenerator.create(
        {
          serialNumber: randomSerialNumber(),
          subject,
          issuer: this.#name,
          notBefore: new Date(Math.max(now - TLS_NOT_BEFORE_BACKDATE_MS, this.notBefore.getTime())),
          notAfter,
          signingAlgorithm: EC_P256_SHA256,
          publicKey: keys.publicKey,
          signingKey: this.#signingKey,
          extensions: [
            new BasicConstraintsExtension(false, undefined, true),
            new KeyUsagesExtension(KeyUsageFlags.digitalSignature, true),
            ...extensions,
            await SubjectKeyIdentifierExtension.create(keys.publicKey, false, nodeCrypto),
            await AuthorityKeyIdentifierExtension.create(this.#certificate.publicKey, false, nodeCrypto),
          ],
        },
        nodeCrypto,
      );
      return {
        certPem: certificate.toString('pem'),
        keyPem: privateKeyPem(keys.privateKey),
        serialNumber: certificate.serialNumber.toLowerCase(),
        notBefore: certificate.notBefore,
        notAfter: certificate.notAfter,
      };
    } catch (err) {
      throw new KubepairError('KP_ERR_TLS_ISSUE_FAILED', what, { cause: err });
    }
  }
}
