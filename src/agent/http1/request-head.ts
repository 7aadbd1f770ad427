/**
 * What one HTTP/1.1 request head means for framing (RFC 9112 §3, §6, §9; issue 10): the agent
 * decides here, before the policy runs, whether a request is unambiguous, and how long its body
 * is. A request that two HTTP implementations could frame differently is refused with the
 * status RFC 9112 suggests, never forwarded:
 *
 * - `Content-Length` together with `Transfer-Encoding` (RFC 9112 §6.1: "ought to be handled as
 *   an error"; the classic CL.TE / TE.CL desync);
 * - any transfer coding but exactly one `chunked` (`gzip, chunked`, `chunked, chunked`,
 *   `xchunked`, a repeated header): the agent speaks no other coding, so it cannot know where
 *   such a body ends;
 * - a repeated, empty, signed, non-decimal or over-long `Content-Length`;
 * - a body on a method that carries none (GET, HEAD, OPTIONS): kube-apiserver, like Go's
 *   net/http, reads such a body by its framing and then the next request — the smuggling of
 *   issue 10 — so it is not sent at all;
 * - HTTP/1.0 (no chunked coding, keep-alive by header: not worth the ambiguity), absolute-form,
 *   authority-form and asterisk-form targets, a missing or repeated `Host`, an `Expect` other
 *   than `100-continue`, and methods kube-apiserver does not serve.
 *
 * Untrusted input: the whole head, from the client at the far end of the tunnel.
 */
import { fieldValues, isToken, listElements } from './message-syntax.js';
import type { HeaderField } from './message-syntax.js';

/** Methods kube-apiserver serves (its handlers and upgrades use no others). */
export const SERVED_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);
/** Methods whose requests carry no body here. */
const BODYLESS_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Largest Content-Length accepted, in decimal digits (15 digits stay below 2^53). */
const CONTENT_LENGTH_MAX_DIGITS = 15;

/**
 * Headers that must appear at most once because a repeat has no single meaning (RFC 9110
 * defines them as singletons; Node's HTTP/2 refuses to send them twice). A repeat is refused
 * rather than picked from, so the policy and the API server can never read different values.
 */
const SINGLETON_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'content-length',
  'transfer-encoding',
  'content-type',
  'content-encoding',
  'content-language',
  'content-location',
  'content-range',
  'authorization',
  'proxy-authorization',
  'expect',
  'upgrade',
  'user-agent',
  'if-match',
  'if-none-match',
  'if-modified-since',
  'if-unmodified-since',
  'if-range',
  'range',
  'max-forwards',
  'referer',
  'from',
  'date',
  'etag',
  'age',
  'location',
  'last-modified',
  'expires',
  'retry-after',
  'dnt',
  'tk',
  'upgrade-insecure-requests',
  'x-content-type-options',
  'access-control-request-method',
]);

/** How the body of a request is delimited. */
export type BodyFraming = { readonly kind: 'none' } | { readonly kind: 'length'; readonly length: number } | { readonly kind: 'chunked' };

/** The request line and field lines of a head, as read (names lower-cased). */
export interface RawRequestHead {
  readonly method: string;
  readonly target: string;
  readonly version: string;
  readonly headers: readonly HeaderField[];
}

/** A head the agent accepted: unambiguous framing and connection semantics. */
export interface RequestHead extends RawRequestHead {
  readonly framing: BodyFraming;
  /** The client asked to close the connection after this request. */
  readonly close: boolean;
  /** The client waits for `100 Continue` before it sends the body. */
  readonly expectContinue: boolean;
  /** The protocol(s) of an `Upgrade` the client asked for with `Connection: upgrade`; undefined when none. */
  readonly upgrade: string | undefined;
  /** Lower-case names the `Connection` header lists: hop-by-hop headers never forwarded. */
  readonly connectionOptions: ReadonlySet<string>;
}

/** A request the agent refuses before the policy runs: the status to answer and why. */
export class FramingRefusal extends Error {
  readonly status: number;

  constructor(status: number, message: string) {
    super(message);
    this.name = 'FramingRefusal';
    this.status = status;
  }
}

const bad = (message: string): FramingRefusal => new FramingRefusal(400, message);

/**
 * Parse a request line (RFC 9112 §3): exactly `method SP request-target SP HTTP-version`, one
 * space each, an origin-form target of visible ASCII.
 */
export function parseRequestLine(line: string): Pick<RawRequestHead, 'method' | 'target' | 'version'> {
  const parts = line.split(' ');
  if (parts.length !== 3) throw bad('the request line is not "METHOD /path HTTP/1.1" with single spaces');
  const [method = '', target = '', version = ''] = parts;
  if (!isToken(method)) throw bad('the method is not a token');
  if (!/^HTTP\/\d\.\d$/.test(version)) throw bad('the request line does not end in an HTTP version');
  if (target === '' || !/^[\x21-\x7e]+$/.test(target)) throw bad('the request target is empty or has characters outside visible ASCII');
  return { method, target, version };
}

/** Decide what a complete head means, or refuse it. */
export function interpretRequestHead(raw: RawRequestHead): RequestHead {
  const { method, target, version, headers } = raw;
  if (version === 'HTTP/1.0') throw new FramingRefusal(505, 'HTTP/1.0 is not accepted; kubectl and every Kubernetes client speak HTTP/1.1');
  if (version !== 'HTTP/1.1') throw new FramingRefusal(505, `${version} is not supported; use HTTP/1.1`);
  if (!SERVED_METHODS.has(method)) throw new FramingRefusal(405, `the method ${method.slice(0, 16)} is not served by the Kubernetes API`);
  if (!target.startsWith('/')) throw bad('only origin-form request targets ("/path?query") are accepted, not absolute-form, authority-form or "*"');
  if (target.includes('#')) throw bad('a request target cannot carry a fragment');

  const counts = new Map<string, number>();
  for (const [name] of headers) counts.set(name, (counts.get(name) ?? 0) + 1);
  for (const [name, count] of counts) {
    if (count > 1 && SINGLETON_HEADERS.has(name)) throw bad(`the header "${name}" appears ${count} times`);
  }
  const [host] = fieldValues(headers, 'host');
  if (host === undefined || host === '') throw bad('an HTTP/1.1 request needs a Host header');

  const framing = bodyFraming(method, fieldValues(headers, 'content-length')[0], fieldValues(headers, 'transfer-encoding')[0]);

  const connectionOptions = new Set<string>();
  for (const value of fieldValues(headers, 'connection')) {
    for (const element of listElements(value)) {
      if (!isToken(element)) throw bad('the Connection header lists something that is not a header name');
      connectionOptions.add(element.toLowerCase());
    }
  }
  const [expect] = fieldValues(headers, 'expect');
  if (expect !== undefined && expect.toLowerCase() !== '100-continue') throw new FramingRefusal(417, 'only "Expect: 100-continue" is understood');
  const [upgradeField] = fieldValues(headers, 'upgrade');
  const upgrade = upgradeField !== undefined && connectionOptions.has('upgrade') ? upgradeField : undefined;
  if (upgrade !== undefined && hasBody(framing)) {
    throw bad('an upgrade request cannot carry a body');
  }
  return {
    ...raw,
    framing,
    close: connectionOptions.has('close'),
    expectContinue: expect !== undefined && hasBody(framing),
    upgrade,
    connectionOptions,
  };
}

function bodyFraming(method: string, contentLength: string | undefined, transferEncoding: string | undefined): BodyFraming {
  if (contentLength !== undefined && transferEncoding !== undefined) {
    throw bad('Content-Length and Transfer-Encoding together are ambiguous (RFC 9112 §6.1)');
  }
  let framing: BodyFraming = { kind: 'none' };
  if (transferEncoding !== undefined) {
    if (transferEncoding.toLowerCase() !== 'chunked') throw new FramingRefusal(501, 'the only transfer coding accepted is exactly "Transfer-Encoding: chunked"');
    framing = { kind: 'chunked' };
  } else if (contentLength !== undefined) {
    if (!/^\d+$/.test(contentLength) || contentLength.length > CONTENT_LENGTH_MAX_DIGITS) throw bad('Content-Length is not a plain decimal number');
    framing = { kind: 'length', length: Number(contentLength) };
  }
  if (BODYLESS_METHODS.has(method) && hasBody(framing)) {
    throw bad(`a ${method} request carries no body`);
  }
  return framing;
}

/** True when the framing announces body bytes (a chunked body may still turn out empty). */
export function hasBody(framing: BodyFraming): boolean {
  return framing.kind === 'chunked' || (framing.kind === 'length' && framing.length > 0);
}
