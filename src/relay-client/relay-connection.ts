/**
 * How one connection to the relay is made, shared by the API calls (relay-api.ts) and the
 * WebSocket (relay-socket.ts): directly, or through the endpoint's HTTPS proxy with a fresh
 * tunnelling agent (proxy-tunnel.ts); and the error a failed connection becomes, with a hint
 * when a proxy is in the way and the relay's certificate was not trusted (the proxy may be
 * intercepting TLS: --proxy-ca).
 */
import { KubepairError } from '../errors/index.js';
import { RelayProxyAgent } from './proxy-tunnel.js';
import type { RelayEndpoint, ResolvedRelay } from './relay-endpoint.js';

/** Whether connections to `relay` go through the endpoint's proxy (TLS relays only). */
export function usesRelayProxy(endpoint: Pick<RelayEndpoint, 'proxy'>, relay: ResolvedRelay): boolean {
  return relay.secure && endpoint.proxy !== undefined;
}

/** The agent for one connection to `relay`, or undefined to connect directly. */
export function relayAgent(endpoint: Pick<RelayEndpoint, 'proxy'>, relay: ResolvedRelay): RelayProxyAgent | undefined {
  return usesRelayProxy(endpoint, relay) && endpoint.proxy !== undefined ? new RelayProxyAgent(endpoint.proxy) : undefined;
}

/** OpenSSL verification failures that a TLS-intercepting proxy causes when its CA is not trusted. */
const UNTRUSTED_CERTIFICATE = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Certificate verification failures: the relay's certificate (or what stands in for it) is not trusted. */
const CERTIFICATE_FAILURES = new Set([...UNTRUSTED_CERTIFICATE, 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_REVOKED', 'HOSTNAME_MISMATCH']);

/**
 * True when `err` (a connection error's cause) is a TLS certificate that did not verify: a
 * misconfiguration (a missing --relay-ca, a wrong host, an intercepting proxy) that no retry mends.
 */
export function isCertificateFailure(err: unknown): boolean {
  const code: unknown = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
  return typeof code === 'string' && CERTIFICATE_FAILURES.has(code);
}

/**
 * What OpenSSL says when the bytes that came back to our ClientHello are not TLS at all: most
 * often an HTTP answer from a server without TLS ("wrong version number"; OpenSSL 3.2 and later
 * may say "packet length too long" or "record layer failure" instead).
 */
const NOT_TLS_ANSWER = /wrong version number|packet length too long|record layer failure/i;

/** True when `err` says the peer of a TLS connection answered in something other than TLS. */
export function isPlainAnswerToTls(err: unknown): boolean {
  const code: unknown = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
  const message = err instanceof Error ? err.message : '';
  return (code === 'EPROTO' || code === 'ERR_SSL_WRONG_VERSION_NUMBER') && NOT_TLS_ANSWER.test(message);
}

/** The message of KP_ERR_RELAY_NOT_TLS for `relayHost`: what is wrong, and the two fixes. */
export function notTlsDetail(relayHost: string): string {
  return (
    `${relayHost} answered an https:// connection in plain HTTP (OpenSSL: "wrong version number"). ` +
    'Check the port; a relay started without --tls-cert serves plain HTTP: use http:// for a relay on this machine, ' +
    'else give the relay a certificate (--tls-cert, --tls-key) or put a TLS proxy in front of it'
  );
}

/**
 * The KubepairError for a connection to the relay that failed with `err`: errors that are
 * already KubepairErrors (a proxy refusal) pass through; an https:// connection answered in
 * plain HTTP is KP_ERR_RELAY_NOT_TLS with the fix; anything else is KP_ERR_RELAY_UNREACHABLE
 * naming the relay host.
 */
export function connectionError(err: unknown, relayHost: string, endpoint: Pick<RelayEndpoint, 'proxy'>): KubepairError {
  if (err instanceof KubepairError) return err;
  if (isPlainAnswerToTls(err)) return new KubepairError('KP_ERR_RELAY_NOT_TLS', notTlsDetail(relayHost), { cause: err });
  const message = err instanceof Error ? err.message : 'connection failed';
  const code: unknown = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
  const hint =
    endpoint.proxy !== undefined && typeof code === 'string' && UNTRUSTED_CERTIFICATE.has(code)
      ? ` (through the proxy ${endpoint.proxy.label}: if it intercepts TLS, trust its CA with --proxy-ca FILE)`
      : '';
  return new KubepairError('KP_ERR_RELAY_UNREACHABLE', `${relayHost}: ${message}${hint}`, { cause: err });
}
