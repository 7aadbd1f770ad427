/**
 * The proxy-mode listener's throw-away TLS identity (docs/design.md §6): a CA made for this session
 * only, a server certificate for 127.0.0.1 and localhost from it, and the random bearer token
 * the kubeconfig carries. Nothing here is derived from the agent's input.
 *
 * Making it costs two P-256 key pairs (generated off the main thread), two signatures and the
 * certificate writer's code (src/tls, node:crypto only), so `connect` starts it before pairing
 * and lets it overlap the round trips through the relay; that code is loaded only then
 * (dynamic import), never at start-up and never for a passthrough session that drops the
 * identity unused.
 */
import { randomBytes } from 'node:crypto';

export interface ProxyIdentity {
  /** The session CA's certificate (PEM): what the kubeconfig trusts. */
  readonly caPem: string;
  /** The listener's certificate and private key (PEM). */
  readonly certPem: string;
  readonly keyPem: string;
  /** The bearer token the listener requires (32 random bytes, base64url). */
  readonly token: string;
}

export async function createProxyIdentity(): Promise<ProxyIdentity> {
  const { CertificateAuthority } = await import('../tls/index.js');
  const ca = await CertificateAuthority.create({ commonName: 'kubepair session CA' });
  const leaf = await ca.issueServerCertificate({ ipAddresses: ['127.0.0.1'], dnsNames: ['localhost'] });
  return { caPem: ca.certPem, certPem: leaf.certPem, keyPem: leaf.keyPem, token: randomBytes(32).toString('base64url') };
}
