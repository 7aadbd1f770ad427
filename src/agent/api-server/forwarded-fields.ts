/**
 * Which of the client's header fields travel to the API server (docs/design.md §6, issue 10). Only
 * end-to-end fields do: `Connection`, `Keep-Alive`, `TE`, `Trailer`, `Transfer-Encoding`,
 * `Upgrade`, `Proxy-*`, `Expect`, `HTTP2-Settings` and every field the client's `Connection`
 * names are hop-by-hop (RFC 9110 §7.6.1) and stop at the agent; `Content-Length` and `Host`
 * are written by the agent itself (framing and authority are the agent's); the client's
 * `Authorization` (the tunnel's bearer token) is replaced by the agent's credentials; under
 * `--as` the client's own `Impersonate-*` fields are dropped for the agent's.
 *
 * Fields that speak for a proxy in front of the API server never come from the client either:
 * `X-Remote-*` (the request-header authentication of a front proxy: an authenticating proxy
 * the agent's kubeconfig points at, or one that trusts its callers, would take them as the
 * identity), and `Forwarded`, `X-Forwarded-*` and `X-Real-IP` (kube-apiserver puts
 * `X-Forwarded-For` in its own audit log's `sourceIPs`, so a client could write any address
 * there).
 *
 * The one exception: an upgrade the agent decided to perform keeps `Connection: Upgrade` and
 * the `Upgrade` field, and nothing else hop-by-hop.
 *
 * Input: fields of a head the agent has already accepted (request-head.ts).
 */
import type { HeaderField } from '../http1/message-syntax.js';
import type { RequestHead } from '../http1/request-head.js';

/** Hop-by-hop fields, the agent's own framing and authority fields, and the tunnel's token. */
const NOT_FORWARDED: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'http2-settings',
  'content-length',
  'host',
  'authorization',
]);

/** Fields only a proxy may set (with `x-forwarded-*` and `x-remote-*`). */
const PROXY_SPOKEN: ReadonlySet<string> = new Set(['forwarded', 'x-real-ip']);

export interface ForwardedFieldsOptions {
  /** The request is upgraded: keep `Connection: Upgrade` and its `Upgrade` field. */
  readonly upgrade: boolean;
  /** The agent impersonates (`--as`): the client's `Impersonate-*` fields are dropped. */
  readonly impersonating: boolean;
}

/** The fields of `head` that go to the API server, in order, names lower-case. */
export function forwardedFields(head: RequestHead, options: ForwardedFieldsOptions): HeaderField[] {
  const fields: HeaderField[] = [];
  for (const field of head.headers) {
    const [name] = field;
    if (NOT_FORWARDED.has(name) || name.startsWith('proxy-') || head.connectionOptions.has(name)) continue;
    if (PROXY_SPOKEN.has(name) || name.startsWith('x-forwarded-') || name.startsWith('x-remote-')) continue;
    if (options.impersonating && name.startsWith('impersonate-')) continue;
    fields.push(field);
  }
  if (options.upgrade && head.upgrade !== undefined) {
    fields.push(['connection', 'Upgrade'], ['upgrade', head.upgrade]);
  }
  return fields;
}

/** The fields as Node's `headersDistinct`: every value of each name, in order (for the policy). */
export function distinctFields(headers: readonly HeaderField[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, value] of headers) (out[name] ??= []).push(value);
  return out;
}
