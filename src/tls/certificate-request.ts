/**
 * Validation of what a caller asks src/tls to certify (docs/design.md §6): common names, client
 * identities (user and groups, as Kubernetes reads them from a client certificate), DNS and IP
 * subjectAltNames and lifetimes. Every entry point of src/tls runs its options through here
 * before any key is generated, and each failure is a KP_ERR_TLS_INVALID_REQUEST naming the
 * option and the reason.
 *
 * Untrusted input: all of it. Names may come from a kubeconfig or a CLI flag, so control
 * characters, lone surrogates, IPs disguised as DNS names, wildcards and oversized lists are
 * refused rather than encoded into a certificate that a peer would parse differently.
 */
import { isIP } from 'node:net';
import { KubepairError } from '../errors/index.js';
import {
  TLS_DEFAULT_VALIDITY_MS,
  TLS_DNS_NAME_MAX_CHARS,
  TLS_MAX_GROUPS,
  TLS_MAX_SUBJECT_ALT_NAMES,
  TLS_MAX_VALIDITY_MS,
  TLS_NAME_MAX_CHARS,
} from '../limits.js';

/** True when `text` holds a C0 or C1 control character or DEL: never part of a name a human or kubectl should see. */
function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit <= 0x1f || (unit >= 0x7f && unit <= 0x9f)) return true;
  }
  return false;
}
/** A UTF-16 surrogate without its partner cannot be encoded as UTF-8 and would be mangled. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** One DNS label (RFC 1123 §2.1): letters, digits and inner hyphens, 1-63 characters. */
const DNS_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;

function invalid(detail: string): KubepairError {
  return new KubepairError('KP_ERR_TLS_INVALID_REQUEST', detail);
}

/** A short, printable rendering of a rejected value for error messages. */
function show(value: unknown): string {
  const text = typeof value === 'string' ? value : String(value);
  return JSON.stringify(text.length > 64 ? `${text.slice(0, 64)}...` : text);
}

/**
 * A subject attribute value (CN or O): a non-empty string of at most TLS_NAME_MAX_CHARS
 * characters without control characters, lone surrogates or surrounding whitespace.
 * RFC 5280's upper bound of 64 is not applied: Kubernetes user names such as
 * `system:serviceaccount:<namespace>:<name>` are longer, and Go and OpenSSL accept them.
 */
export function checkSubjectValue(value: unknown, what: string): string {
  if (typeof value !== 'string') throw invalid(`${what} must be a string`);
  if (value.length === 0) throw invalid(`${what} must not be empty`);
  if (value.length > TLS_NAME_MAX_CHARS) throw invalid(`${what} is longer than ${TLS_NAME_MAX_CHARS} characters`);
  if (hasControlCharacter(value)) throw invalid(`${what} ${show(value)} contains a control character`);
  if (LONE_SURROGATE.test(value)) throw invalid(`${what} ${show(value)} is not well-formed Unicode`);
  if (value.trim() !== value) throw invalid(`${what} ${show(value)} has leading or trailing whitespace`);
  return value;
}

/** A DNS subjectAltName: RFC 1123 host name syntax, no wildcard, no trailing dot, not an IP. */
export function checkDnsName(value: unknown, what: string): string {
  if (typeof value !== 'string') throw invalid(`${what} must be a string`);
  if (value.length === 0 || value.length > TLS_DNS_NAME_MAX_CHARS) {
    throw invalid(`${what} must have 1 to ${TLS_DNS_NAME_MAX_CHARS} characters`);
  }
  // An IP address in a DNS SAN is matched as a name by some clients and ignored by others.
  if (isIP(value) !== 0) throw invalid(`${what} ${show(value)} is an IP address; pass it in ipAddresses`);
  if (!value.split('.').every((label) => DNS_LABEL.test(label))) {
    throw invalid(`${what} ${show(value)} is not a valid DNS name (letters, digits, inner hyphens, dot-separated)`);
  }
  return value.toLowerCase();
}

/** An IP subjectAltName: a literal IPv4 or IPv6 address without a zone index. */
export function checkIpAddress(value: unknown, what: string): string {
  if (typeof value !== 'string') throw invalid(`${what} must be a string`);
  // A zone index (fe80::1%eth0) has no meaning in a certificate.
  if (value.includes('%') || isIP(value) === 0) throw invalid(`${what} ${show(value)} is not an IP address`);
  return value;
}

/** A lifetime in milliseconds: a positive integer of at most TLS_MAX_VALIDITY_MS; default when absent. */
export function checkValidityMs(value: unknown, what: string): number {
  if (value === undefined) return TLS_DEFAULT_VALIDITY_MS;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw invalid(`${what} must be a positive whole number of milliseconds`);
  }
  if (value > TLS_MAX_VALIDITY_MS) throw invalid(`${what} exceeds the maximum of ${TLS_MAX_VALIDITY_MS} ms`);
  return value;
}

/** A list option: absent means empty; otherwise an array of at most `max` entries. */
function checkList(value: unknown, what: string, max: number): readonly unknown[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalid(`${what} must be an array`);
  if (value.length > max) throw invalid(`${what} has more than ${max} entries`);
  return value as readonly unknown[];
}

function rejectDuplicates(values: readonly string[], what: string): void {
  const seen = new Set<string>();
  for (const value of values) {
    if (seen.has(value)) throw invalid(`${what} lists ${show(value)} twice`);
    seen.add(value);
  }
}

/** What a server certificate must name: the host names and addresses clients connect to. */
export interface ServerCertificateRequest {
  readonly commonName: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly validityMs: number;
}

/** Validate server certificate options; at least one subjectAltName is required. */
export function checkServerCertificateRequest(options: {
  readonly commonName?: unknown;
  readonly dnsNames?: unknown;
  readonly ipAddresses?: unknown;
  readonly validityMs?: unknown;
}): ServerCertificateRequest {
  const dnsNames = checkList(options.dnsNames, 'dnsNames', TLS_MAX_SUBJECT_ALT_NAMES).map((name, i) =>
    checkDnsName(name, `dnsNames[${i}]`),
  );
  const ipAddresses = checkList(options.ipAddresses, 'ipAddresses', TLS_MAX_SUBJECT_ALT_NAMES).map((ip, i) =>
    checkIpAddress(ip, `ipAddresses[${i}]`),
  );
  // Clients match only subjectAltNames (RFC 6125 §6.4.4); a certificate without one is useless.
  if (dnsNames.length + ipAddresses.length === 0) throw invalid('a server certificate needs at least one DNS name or IP address');
  if (dnsNames.length + ipAddresses.length > TLS_MAX_SUBJECT_ALT_NAMES) {
    throw invalid(`a server certificate may have at most ${TLS_MAX_SUBJECT_ALT_NAMES} subjectAltNames`);
  }
  rejectDuplicates(dnsNames, 'dnsNames');
  rejectDuplicates(ipAddresses, 'ipAddresses');
  const commonName =
    options.commonName === undefined ? (dnsNames[0] ?? ipAddresses[0] ?? '') : checkSubjectValue(options.commonName, 'commonName');
  return { commonName, dnsNames, ipAddresses, validityMs: checkValidityMs(options.validityMs, 'validityMs') };
}

/** Who a client certificate authenticates: Kubernetes reads the user from CN and groups from O. */
export interface ClientCertificateRequest {
  readonly user: string;
  readonly groups: readonly string[];
  readonly validityMs: number;
}

/** Validate client certificate options. */
export function checkClientCertificateRequest(options: {
  readonly user?: unknown;
  readonly groups?: unknown;
  readonly validityMs?: unknown;
}): ClientCertificateRequest {
  const user = checkSubjectValue(options.user, 'user');
  const groups = checkList(options.groups, 'groups', TLS_MAX_GROUPS).map((group, i) => checkSubjectValue(group, `groups[${i}]`));
  rejectDuplicates(groups, 'groups');
  return { user, groups, validityMs: checkValidityMs(options.validityMs, 'validityMs') };
}
