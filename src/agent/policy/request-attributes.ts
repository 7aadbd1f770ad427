/**
 * Request attributes: what one Kubernetes API request asks for (docs/design.md §6), computed from
 * its HTTP method and request target the way the API server's RequestInfo does
 * (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go), so the agent's policy sees the
 * request as the API server will see it. docs/policy.md describes the rules in prose.
 *
 * Untrusted input: the method and the whole request target (path and query) come from the
 * client at the other end of the tunnel.
 *
 * Two deliberate differences from RequestInfo, both towards refusing more:
 * - exec, attach and portforward are `create` whatever the HTTP method. A WebSocket upgrade
 *   arrives as a GET, which RequestInfo calls `get`, so `get pods/*` used to grant a shell
 *   (kubernetes/kubernetes#133515; Kubernetes 1.35 added a compound `create` check).
 * - A target that could be read in more than one way (bad percent-encoding, an encoded `/`,
 *   `.`/`..` or empty segments, control or non-ASCII characters, a malformed query, an
 *   unknown method, an over-long target) is not guessed at: it becomes `kind: 'ambiguous'`,
 *   which the tier table puts in the highest tier and which no `--allow` rule can match.
 */
import { POLICY_REQUEST_TARGET_MAX_CHARS } from '../../limits.js';

/** Verbs of resource requests, as RBAC names them. */
export const RESOURCE_VERBS = [
  'get',
  'list',
  'watch',
  'create',
  'update',
  'patch',
  'delete',
  'deletecollection',
  'proxy',
] as const;
export type ResourceVerb = (typeof RESOURCE_VERBS)[number];

/** Verbs of non-resource requests: the lower-case HTTP method, as RBAC names them. */
export const NON_RESOURCE_VERBS = ['get', 'head', 'post', 'put', 'patch', 'delete', 'options'] as const;
export type NonResourceVerb = (typeof NON_RESOURCE_VERBS)[number];

/** A request for an API resource: /api/v1/... or /apis/GROUP/VERSION/... */
export interface ResourceRequestAttributes {
  readonly kind: 'resource';
  readonly isResourceRequest: true;
  /** HTTP method as received (upper case). */
  readonly method: string;
  readonly verb: ResourceVerb;
  readonly apiPrefix: 'api' | 'apis';
  /** API group; '' for the core group. */
  readonly group: string;
  readonly version: string;
  /** '' for cluster-scoped resources and for requests across all namespaces. */
  readonly namespace: string;
  readonly resource: string;
  /** '' when the request is for the resource itself. */
  readonly subresource: string;
  /** '' when the path names no object (list, watch, create, deletecollection). */
  readonly name: string;
  /** The percent-decoded path, without a trailing slash. */
  readonly path: string;
}

/** A request outside the resource tree: /version, /healthz, /openapi/v3, /apis discovery... */
export interface NonResourceRequestAttributes {
  readonly kind: 'non-resource';
  readonly isResourceRequest: false;
  readonly method: string;
  readonly verb: NonResourceVerb;
  /** The percent-decoded path; a trailing slash is kept, as RBAC's nonResourceURLs see it. */
  readonly path: string;
}

/** A request that could be read in more than one way; never a read, never matched by --allow. */
export interface AmbiguousRequestAttributes {
  readonly kind: 'ambiguous';
  readonly isResourceRequest: false;
  /** HTTP method, reduced to printable ASCII and bounded. */
  readonly method: string;
  /** The lower-case method, for display. */
  readonly verb: string;
  /** The raw path (no query), reduced to printable ASCII and bounded, for display and audit. */
  readonly path: string;
  /** Why the request is ambiguous, for messages and the audit log. */
  readonly problem: string;
}

export type RequestAttributes = ResourceRequestAttributes | NonResourceRequestAttributes | AmbiguousRequestAttributes;

/** Most characters of the raw path kept in an ambiguous request's `path`. */
const AMBIGUOUS_PATH_DISPLAY_CHARS = 256;

/** Subresources that open an interactive stream: `create` whatever the HTTP method. */
export const CONNECT_SUBRESOURCES: ReadonlySet<string> = new Set(['exec', 'attach', 'portforward']);

/** Core-group resources whose `proxy` subresource kube-apiserver serves (and upgrades: WebSocket through to the pod, service or kubelet). */
export const PROXY_RESOURCES: ReadonlySet<string> = new Set(['pods', 'services', 'nodes']);

/**
 * True when kube-apiserver serves the request by switching protocols if it asks to: exec,
 * attach and portforward, the `proxy` subresource of pods, services and nodes, and the legacy
 * `proxy` verb (issue 10: `Upgrade` travels upstream on these only; every other request asking
 * to upgrade is forwarded as an ordinary one, its `Upgrade` dropped).
 */
export function switchesProtocols(attributes: RequestAttributes): boolean {
  if (attributes.kind !== 'resource') return false;
  if (CONNECT_SUBRESOURCES.has(attributes.subresource) || attributes.verb === 'proxy') return true;
  return attributes.subresource === 'proxy' && attributes.group === '' && PROXY_RESOURCES.has(attributes.resource);
}

/** Path steps after the namespace name that are subresources of the namespace itself. */
const NAMESPACE_SUBRESOURCES: ReadonlySet<string> = new Set(['status', 'finalize']);

/** Lower-case DNS-style names: API groups, resources, subresources, namespaces. */
const DNS_NAME = /^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?$/;
const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
const API_VERSION = /^[a-z0-9]+$/;

class Ambiguity extends Error {}

/**
 * Classify one request. `target` is the request target exactly as received (Node's
 * `req.url`): an absolute path with an optional `?query`. Never throws for bad input.
 */
export function requestAttributes(method: string, target: string): RequestAttributes {
  try {
    return classify(method, target);
  } catch (err) {
    if (err instanceof Ambiguity) return ambiguous(method, target, err.message);
    throw err;
  }
}

function classify(method: string, target: string): RequestAttributes {
  if (target.length > POLICY_REQUEST_TARGET_MAX_CHARS) {
    throw new Ambiguity(`the request target is longer than ${POLICY_REQUEST_TARGET_MAX_CHARS} characters`);
  }
  if (!target.startsWith('/')) throw new Ambiguity('the request target is not an absolute path');
  if (!/^[\x21-\x7e]*$/.test(target)) {
    throw new Ambiguity('the request target has a space, control or non-ASCII character');
  }
  if (target.includes('#')) throw new Ambiguity('the request target has a fragment');
  const queryAt = target.indexOf('?');
  const rawPath = queryAt < 0 ? target : target.slice(0, queryAt);
  const rawQuery = queryAt < 0 ? '' : target.slice(queryAt + 1);
  if (rawPath.includes('\\')) throw new Ambiguity('the path has a backslash');

  const { segments, trailingSlash } = decodePath(rawPath);
  const watchParam = firstQueryValue(rawQuery, 'watch');

  // Fewer than three segments, or an unknown prefix: not a resource request (RequestInfo).
  const [prefix] = segments;
  if (segments.length < 3 || (prefix !== 'api' && prefix !== 'apis')) {
    return nonResource(method, segments, trailingSlash);
  }
  // /apis needs a group as well: /apis/GROUP/VERSION alone is group discovery.
  if (prefix === 'apis' && segments.length < 4) return nonResource(method, segments, trailingSlash);
  return resource(method, prefix, segments.slice(1), rawPath, watchParam);
}

function nonResource(method: string, segments: readonly string[], trailingSlash: boolean): NonResourceRequestAttributes {
  const verb = method.toLowerCase();
  if (!isNonResourceVerb(verb)) throw new Ambiguity(`unsupported HTTP method ${displayMethod(method)}`);
  const path = '/' + segments.join('/') + (trailingSlash && segments.length > 0 ? '/' : '');
  return { kind: 'non-resource', isResourceRequest: false, method, verb, path };
}

function resource(
  method: string,
  apiPrefix: 'api' | 'apis',
  afterPrefix: readonly string[],
  rawPath: string,
  watchParam: string | undefined,
): ResourceRequestAttributes {
  let rest = afterPrefix;
  let group = '';
  if (apiPrefix === 'apis') {
    group = rest[0] ?? '';
    rest = rest.slice(1);
    if (group.length > 253 || !DNS_NAME.test(group)) throw new Ambiguity('the API group is not a lower-case DNS name');
  }
  const version = rest[0] ?? '';
  rest = rest.slice(1);
  if (version.length > 63 || !API_VERSION.test(version)) throw new Ambiguity('the API version is not lower-case alphanumeric');

  // Legacy special verbs in the path: /api/v1/watch/... and /api/v1/proxy/...
  let verb: ResourceVerb;
  const special = rest[0];
  if (special === 'watch' || special === 'proxy') {
    if (rest.length < 2) throw new Ambiguity(`/${special}/ names no resource`);
    if (special === 'watch' && method !== 'GET' && method !== 'HEAD') {
      throw new Ambiguity(`a /watch/ path with HTTP method ${displayMethod(method)}`);
    }
    verb = special;
    rest = rest.slice(1);
  } else {
    verb = verbFromMethod(method);
  }

  // /namespaces/NS/RESOURCE/... is re-rooted at RESOURCE; /namespaces/NS[/status|/finalize]
  // is the namespace object itself.
  let namespace = '';
  if (rest[0] === 'namespaces' && rest.length > 1) {
    namespace = rest[1] ?? '';
    if (rest.length > 2 && !NAMESPACE_SUBRESOURCES.has(rest[2] ?? '')) rest = rest.slice(2);
  }

  const resourceName = rest[0] ?? '';
  const name = rest[1] ?? '';
  // The legacy proxy verb takes no subresource: everything after the name is the proxied path.
  const subresource = verb === 'proxy' ? '' : (rest[2] ?? '');
  const proxiedPath = verb === 'proxy' || subresource === 'proxy';
  if (rest.length > 3 && !proxiedPath) throw new Ambiguity('the path continues after the subresource');

  if (namespace !== '' && (namespace.length > 63 || !DNS_LABEL.test(namespace))) {
    throw new Ambiguity('the namespace is not a lower-case DNS label');
  }
  if (resourceName.length > 63 || !DNS_LABEL.test(resourceName)) {
    throw new Ambiguity('the resource is not a lower-case DNS label');
  }
  if (subresource !== '' && (subresource.length > 63 || !DNS_LABEL.test(subresource))) {
    throw new Ambiguity('the subresource is not a lower-case DNS label');
  }

  if (CONNECT_SUBRESOURCES.has(subresource)) {
    // Security: a WebSocket upgrade is a GET, but it opens a shell or a tunnel (see header).
    verb = 'create';
  } else if (name === '' && verb === 'get') {
    // Any watch value other than false/0 means watch (RequestInfo and Convert_Slice_string_To_bool).
    const watch = watchParam?.toLowerCase();
    verb = watchParam === undefined || watch === 'false' || watch === '0' ? 'list' : 'watch';
  } else if (name === '' && verb === 'delete') {
    verb = 'deletecollection';
  }

  return {
    kind: 'resource',
    isResourceRequest: true,
    method,
    verb,
    apiPrefix,
    group,
    version,
    namespace,
    resource: resourceName,
    subresource,
    name,
    path: canonicalPath(rawPath),
  };
}

function verbFromMethod(method: string): ResourceVerb {
  switch (method) {
    case 'GET':
    case 'HEAD':
      return 'get';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return 'delete';
    default:
      throw new Ambiguity(`unsupported HTTP method ${displayMethod(method)} for a resource`);
  }
}

function isNonResourceVerb(verb: string): verb is NonResourceVerb {
  return (NON_RESOURCE_VERBS as readonly string[]).includes(verb);
}

/**
 * Split an absolute path into percent-decoded segments. One trailing slash is allowed (the
 * API server trims it); any other empty segment, a `.` or `..` segment, an encoded `/`, a
 * `%` or `\` left after decoding (double encoding), or a decoded character outside
 * printable ASCII is ambiguous.
 */
function decodePath(rawPath: string): { segments: string[]; trailingSlash: boolean } {
  if (rawPath === '/') return { segments: [], trailingSlash: false };
  const raw = rawPath.slice(1).split('/');
  const trailingSlash = raw[raw.length - 1] === '';
  if (trailingSlash) raw.pop();
  const segments = raw.map((segment) => {
    if (segment === '') throw new Ambiguity('the path has an empty segment (//)');
    const decoded = percentDecode(segment, false);
    if (decoded === '.' || decoded === '..') throw new Ambiguity('the path has a . or .. segment');
    if (decoded.includes('/')) throw new Ambiguity('the path has an encoded slash (%2F)');
    if (decoded.includes('%')) throw new Ambiguity('the path is percent-encoded twice');
    if (decoded.includes('\\')) throw new Ambiguity('the path has an encoded backslash');
    if (!/^[\x21-\x7e]+$/.test(decoded)) {
      throw new Ambiguity('the path has an encoded space, control or non-ASCII character');
    }
    return decoded;
  });
  return { segments, trailingSlash };
}

/**
 * Strict percent-decoding: every `%` must start a two-digit hex escape, and the bytes must be
 * valid UTF-8. In a query, `+` is a space (application/x-www-form-urlencoded).
 */
function percentDecode(text: string, plusIsSpace: boolean): string {
  if (!text.includes('%') && !(plusIsSpace && text.includes('+'))) return text;
  const bytes: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    if (char === 0x25 /* % */) {
      const hex = text.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) throw new Ambiguity('the request target has a malformed percent-escape');
      bytes.push(Number.parseInt(hex, 16));
      i += 2;
    } else if (plusIsSpace && char === 0x2b /* + */) {
      bytes.push(0x20);
    } else {
      bytes.push(char); // printable ASCII only, checked by the caller
    }
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
  } catch (err) {
    throw new Ambiguity('the request target encodes bytes that are not UTF-8', { cause: err });
  }
}

/**
 * The first value of `key` in the query, decoded. Every pair is checked: a `;` (Go drops such
 * pairs, other servers split on it) or a malformed escape makes the whole request ambiguous.
 */
function firstQueryValue(rawQuery: string, key: string): string | undefined {
  let found: string | undefined;
  if (rawQuery === '') return found;
  for (const pair of rawQuery.split('&')) {
    if (pair === '') continue;
    if (pair.includes(';')) throw new Ambiguity('the query has a ; separator');
    const equals = pair.indexOf('=');
    const pairKey = percentDecode(equals < 0 ? pair : pair.slice(0, equals), true);
    const value = percentDecode(equals < 0 ? '' : pair.slice(equals + 1), true);
    if (found === undefined && pairKey === key) found = value;
  }
  return found;
}

/** The decoded path without a trailing slash (segments are already validated). */
function canonicalPath(rawPath: string): string {
  const trimmed = rawPath.endsWith('/') ? rawPath.slice(0, -1) : rawPath;
  return trimmed
    .split('/')
    .map((segment) => percentDecode(segment, false))
    .join('/');
}

function ambiguous(method: string, target: string, problem: string): AmbiguousRequestAttributes {
  const queryAt = target.indexOf('?');
  const rawPath = queryAt < 0 ? target : target.slice(0, queryAt);
  const safeMethod = displayMethod(method);
  return {
    kind: 'ambiguous',
    isResourceRequest: false,
    method: safeMethod,
    verb: safeMethod.toLowerCase(),
    path: printable(rawPath, AMBIGUOUS_PATH_DISPLAY_CHARS),
    problem,
  };
}

/** An HTTP method reduced to something safe to print: a short token or `?`. */
function displayMethod(method: string): string {
  return /^[A-Za-z]{1,16}$/.test(method) ? method.toUpperCase() : '?';
}

/** Replace anything outside printable ASCII with `?` and cut to `max` characters. */
function printable(text: string, max: number): string {
  const cut = text.length > max ? `${text.slice(0, max)}...` : text;
  return cut.replace(/[^\x20-\x7e]/g, '?');
}
