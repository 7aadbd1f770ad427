/**
 * The tests' relay TLS fixtures (test/fixtures/relay-tls): a certificate and key for IP
 * 127.0.0.1 that the endpoints under test are told to trust, and another pair for the same
 * address from another issuer, which they are not.
 */
import { repoPath } from './paths.js';

/** The loopback relay certificate (also its own CA: pass it as `--relay-ca`). */
export const RELAY_TLS_CERT = repoPath('test/fixtures/relay-tls/loopback.crt');
export const RELAY_TLS_KEY = repoPath('test/fixtures/relay-tls/loopback.key');
/** A certificate for 127.0.0.1 too, from another issuer: not the one the endpoint trusts. */
export const OTHER_TLS_CERT = repoPath('test/fixtures/relay-tls/other.crt');
export const OTHER_TLS_KEY = repoPath('test/fixtures/relay-tls/other.key');
