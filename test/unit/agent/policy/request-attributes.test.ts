/**
 * Request attributes: table-driven cases against the API server's RequestInfo behaviour, the
 * deliberate differences (connect subresources are `create`), and the conservative handling of
 * every target that could be read two ways.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { POLICY_REQUEST_TARGET_MAX_CHARS } from '../../../../src/limits.js';
import { requestAttributes, switchesProtocols } from '../../../../src/agent/policy/request-attributes.js';
import type {
  NonResourceRequestAttributes,
  ResourceRequestAttributes,
} from '../../../../src/agent/policy/request-attributes.js';

type ResourceExpectation = Omit<ResourceRequestAttributes, 'kind' | 'isResourceRequest' | 'method' | 'apiPrefix' | 'path'> &
  Partial<Pick<ResourceRequestAttributes, 'apiPrefix' | 'path'>>;

interface ResourceCase {
  readonly id: string;
  readonly method: string;
  readonly target: string;
  readonly want: ResourceExpectation;
}

const R = (
  verb: ResourceRequestAttributes['verb'],
  resource: string,
  rest: Partial<Omit<ResourceExpectation, 'verb' | 'resource'>> = {},
): ResourceExpectation => ({
  verb,
  resource,
  group: rest.group ?? '',
  version: rest.version ?? 'v1',
  namespace: rest.namespace ?? '',
  subresource: rest.subresource ?? '',
  name: rest.name ?? '',
  ...(rest.apiPrefix === undefined ? {} : { apiPrefix: rest.apiPrefix }),
  ...(rest.path === undefined ? {} : { path: rest.path }),
});

const RESOURCE_CASES: readonly ResourceCase[] = [
  // core group, namespaced
  { id: 'core-list', method: 'GET', target: '/api/v1/namespaces/default/pods', want: R('list', 'pods', { namespace: 'default', apiPrefix: 'api' }) },
  { id: 'core-get', method: 'GET', target: '/api/v1/namespaces/default/pods/web', want: R('get', 'pods', { namespace: 'default', name: 'web' }) },
  { id: 'core-head-is-get', method: 'HEAD', target: '/api/v1/namespaces/default/pods/web', want: R('get', 'pods', { namespace: 'default', name: 'web' }) },
  { id: 'core-create', method: 'POST', target: '/api/v1/namespaces/default/pods', want: R('create', 'pods', { namespace: 'default' }) },
  { id: 'core-update', method: 'PUT', target: '/api/v1/namespaces/default/configmaps/cfg', want: R('update', 'configmaps', { namespace: 'default', name: 'cfg' }) },
  { id: 'core-patch', method: 'PATCH', target: '/api/v1/namespaces/default/services/web', want: R('patch', 'services', { namespace: 'default', name: 'web' }) },
  { id: 'core-delete', method: 'DELETE', target: '/api/v1/namespaces/default/pods/web', want: R('delete', 'pods', { namespace: 'default', name: 'web' }) },
  { id: 'core-deletecollection', method: 'DELETE', target: '/api/v1/namespaces/default/pods', want: R('deletecollection', 'pods', { namespace: 'default' }) },
  { id: 'core-deletecollection-selector', method: 'DELETE', target: '/api/v1/namespaces/default/pods?labelSelector=app%3Dweb', want: R('deletecollection', 'pods', { namespace: 'default' }) },
  { id: 'core-secret-get', method: 'GET', target: '/api/v1/namespaces/kube-system/secrets/token', want: R('get', 'secrets', { namespace: 'kube-system', name: 'token' }) },
  // all namespaces, cluster-scoped
  { id: 'all-namespaces-list', method: 'GET', target: '/api/v1/pods?limit=500', want: R('list', 'pods') },
  { id: 'cluster-scoped-list', method: 'GET', target: '/api/v1/nodes', want: R('list', 'nodes') },
  { id: 'cluster-scoped-get', method: 'GET', target: '/api/v1/nodes/worker-1', want: R('get', 'nodes', { name: 'worker-1' }) },
  { id: 'cluster-scoped-delete', method: 'DELETE', target: '/api/v1/nodes/worker-1', want: R('delete', 'nodes', { name: 'worker-1' }) },
  // the namespace object itself
  { id: 'namespaces-list', method: 'GET', target: '/api/v1/namespaces', want: R('list', 'namespaces') },
  { id: 'namespace-get', method: 'GET', target: '/api/v1/namespaces/team-a', want: R('get', 'namespaces', { namespace: 'team-a', name: 'team-a' }) },
  { id: 'namespace-delete', method: 'DELETE', target: '/api/v1/namespaces/team-a', want: R('delete', 'namespaces', { namespace: 'team-a', name: 'team-a' }) },
  { id: 'namespace-status', method: 'PUT', target: '/api/v1/namespaces/team-a/status', want: R('update', 'namespaces', { namespace: 'team-a', name: 'team-a', subresource: 'status' }) },
  { id: 'namespace-finalize', method: 'PUT', target: '/api/v1/namespaces/team-a/finalize', want: R('update', 'namespaces', { namespace: 'team-a', name: 'team-a', subresource: 'finalize' }) },
  // grouped resources
  { id: 'apps-list', method: 'GET', target: '/apis/apps/v1/namespaces/team-a/deployments', want: R('list', 'deployments', { group: 'apps', namespace: 'team-a', apiPrefix: 'apis' }) },
  { id: 'apps-create', method: 'POST', target: '/apis/apps/v1/namespaces/team-a/deployments', want: R('create', 'deployments', { group: 'apps', namespace: 'team-a' }) },
  { id: 'apps-scale', method: 'PATCH', target: '/apis/apps/v1/namespaces/team-a/deployments/web/scale', want: R('patch', 'deployments', { group: 'apps', namespace: 'team-a', name: 'web', subresource: 'scale' }) },
  { id: 'apps-status', method: 'PUT', target: '/apis/apps/v1/namespaces/team-a/deployments/web/status', want: R('update', 'deployments', { group: 'apps', namespace: 'team-a', name: 'web', subresource: 'status' }) },
  { id: 'rbac-cluster-scoped', method: 'POST', target: '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', want: R('create', 'clusterrolebindings', { group: 'rbac.authorization.k8s.io' }) },
  { id: 'rbac-name-with-colon', method: 'GET', target: '/apis/rbac.authorization.k8s.io/v1/clusterroles/system:aggregate-to-view', want: R('get', 'clusterroles', { group: 'rbac.authorization.k8s.io', name: 'system:aggregate-to-view' }) },
  { id: 'crd-beta-version', method: 'GET', target: '/apis/example.com/v1beta1/namespaces/ns/widgets/w1', want: R('get', 'widgets', { group: 'example.com', version: 'v1beta1', namespace: 'ns', name: 'w1' }) },
  { id: 'csr-approval', method: 'PUT', target: '/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval', want: R('update', 'certificatesigningrequests', { group: 'certificates.k8s.io', name: 'csr-1', subresource: 'approval' }) },
  { id: 'self-review', method: 'POST', target: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', want: R('create', 'selfsubjectaccessreviews', { group: 'authorization.k8s.io' }) },
  // subresources
  { id: 'log', method: 'GET', target: '/api/v1/namespaces/default/pods/web/log?follow=true&container=app', want: R('get', 'pods', { namespace: 'default', name: 'web', subresource: 'log' }) },
  { id: 'token', method: 'POST', target: '/api/v1/namespaces/default/serviceaccounts/builder/token', want: R('create', 'serviceaccounts', { namespace: 'default', name: 'builder', subresource: 'token' }) },
  { id: 'eviction', method: 'POST', target: '/api/v1/namespaces/default/pods/web/eviction', want: R('create', 'pods', { namespace: 'default', name: 'web', subresource: 'eviction' }) },
  { id: 'ephemeral', method: 'PATCH', target: '/api/v1/namespaces/default/pods/web/ephemeralcontainers', want: R('patch', 'pods', { namespace: 'default', name: 'web', subresource: 'ephemeralcontainers' }) },
  { id: 'exec-post', method: 'POST', target: '/api/v1/namespaces/default/pods/web/exec?command=sh&stdin=true&tty=true', want: R('create', 'pods', { namespace: 'default', name: 'web', subresource: 'exec' }) },
  { id: 'exec-get-upgrade', method: 'GET', target: '/api/v1/namespaces/default/pods/web/exec?command=sh&stdin=true&tty=true', want: R('create', 'pods', { namespace: 'default', name: 'web', subresource: 'exec' }) },
  { id: 'exec-head', method: 'HEAD', target: '/api/v1/namespaces/default/pods/web/exec', want: R('create', 'pods', { namespace: 'default', name: 'web', subresource: 'exec' }) },
  { id: 'exec-encoded-subresource', method: 'GET', target: '/api/v1/namespaces/default/pods/web/ex%65c?command=sh', want: R('create', 'pods', { namespace: 'default', name: 'web', subresource: 'exec' }) },
  { id: 'attach-get', method: 'GET', target: '/api/v1/namespaces/default/pods/web/attach?stdin=true', want: R('create', 'pods', { namespace: 'default', name: 'web', subresource: 'attach' }) },
  { id: 'portforward-get', method: 'GET', target: '/api/v1/namespaces/default/pods/web/portforward?ports=8080', want: R('create', 'pods', { namespace: 'default', name: 'web', subresource: 'portforward' }) },
  { id: 'portforward-post', method: 'POST', target: '/api/v1/namespaces/default/pods/web/portforward', want: R('create', 'pods', { namespace: 'default', name: 'web', subresource: 'portforward' }) },
  { id: 'pod-proxy-path', method: 'GET', target: '/api/v1/namespaces/default/pods/web:8080/proxy/metrics/x', want: R('get', 'pods', { namespace: 'default', name: 'web:8080', subresource: 'proxy' }) },
  { id: 'service-proxy-post', method: 'POST', target: '/api/v1/namespaces/default/services/https:web:443/proxy/', want: R('create', 'services', { namespace: 'default', name: 'https:web:443', subresource: 'proxy' }) },
  { id: 'node-proxy', method: 'GET', target: '/api/v1/nodes/worker-1/proxy/configz', want: R('get', 'nodes', { name: 'worker-1', subresource: 'proxy' }) },
  // watch both ways
  { id: 'watch-query-true', method: 'GET', target: '/api/v1/namespaces/default/pods?watch=true', want: R('watch', 'pods', { namespace: 'default' }) },
  { id: 'watch-query-1', method: 'GET', target: '/api/v1/namespaces/default/pods?resourceVersion=10&watch=1', want: R('watch', 'pods', { namespace: 'default' }) },
  { id: 'watch-query-empty-value', method: 'GET', target: '/api/v1/pods?watch=', want: R('watch', 'pods') },
  { id: 'watch-query-bare-key', method: 'GET', target: '/api/v1/pods?watch', want: R('watch', 'pods') },
  { id: 'watch-query-false', method: 'GET', target: '/api/v1/pods?watch=false', want: R('list', 'pods') },
  { id: 'watch-query-0', method: 'GET', target: '/api/v1/pods?watch=0', want: R('list', 'pods') },
  { id: 'watch-query-FALSE', method: 'GET', target: '/api/v1/pods?watch=FALSE', want: R('list', 'pods') },
  { id: 'watch-query-first-wins', method: 'GET', target: '/api/v1/pods?watch=0&watch=1', want: R('list', 'pods') },
  { id: 'watch-query-encoded-key', method: 'GET', target: '/api/v1/pods?wat%63h=true', want: R('watch', 'pods') },
  { id: 'watch-query-named-is-get', method: 'GET', target: '/api/v1/namespaces/default/pods/web?watch=true', want: R('get', 'pods', { namespace: 'default', name: 'web' }) },
  { id: 'watch-path-cluster', method: 'GET', target: '/api/v1/watch/pods', want: R('watch', 'pods') },
  { id: 'watch-path-namespaced', method: 'GET', target: '/api/v1/watch/namespaces/default/pods', want: R('watch', 'pods', { namespace: 'default' }) },
  { id: 'watch-path-named', method: 'GET', target: '/api/v1/watch/namespaces/default/pods/web', want: R('watch', 'pods', { namespace: 'default', name: 'web' }) },
  { id: 'watch-path-grouped', method: 'GET', target: '/apis/apps/v1/watch/namespaces/default/deployments', want: R('watch', 'deployments', { group: 'apps', namespace: 'default' }) },
  // legacy proxy verb
  { id: 'proxy-verb', method: 'GET', target: '/api/v1/proxy/namespaces/default/pods/web/some/path', want: R('proxy', 'pods', { namespace: 'default', name: 'web' }) },
  { id: 'proxy-verb-post', method: 'POST', target: '/api/v1/proxy/nodes/worker-1/run', want: R('proxy', 'nodes', { name: 'worker-1' }) },
  // normalisation that is safe
  { id: 'trailing-slash', method: 'GET', target: '/api/v1/namespaces/default/pods/', want: R('list', 'pods', { namespace: 'default', path: '/api/v1/namespaces/default/pods' }) },
  { id: 'trailing-slash-delete', method: 'DELETE', target: '/api/v1/namespaces/default/pods/web/', want: R('delete', 'pods', { namespace: 'default', name: 'web' }) },
  { id: 'encoded-letters', method: 'DELETE', target: '/api/v1/namespaces/def%61ult/%70ods/w%65b', want: R('delete', 'pods', { namespace: 'default', name: 'web', path: '/api/v1/namespaces/default/pods/web' }) },
  { id: 'plus-in-path-is-literal', method: 'GET', target: '/api/v1/namespaces/default/configmaps/a+b', want: R('get', 'configmaps', { namespace: 'default', name: 'a+b' }) },
];

interface NonResourceCase {
  readonly id: string;
  readonly method: string;
  readonly target: string;
  readonly want: Pick<NonResourceRequestAttributes, 'verb' | 'path'>;
}

const NON_RESOURCE_CASES: readonly NonResourceCase[] = [
  { id: 'root', method: 'GET', target: '/', want: { verb: 'get', path: '/' } },
  { id: 'version', method: 'GET', target: '/version?timeout=32s', want: { verb: 'get', path: '/version' } },
  { id: 'healthz', method: 'GET', target: '/healthz', want: { verb: 'get', path: '/healthz' } },
  { id: 'readyz-verbose', method: 'GET', target: '/readyz?verbose', want: { verb: 'get', path: '/readyz' } },
  { id: 'openapi-v3', method: 'GET', target: '/openapi/v3', want: { verb: 'get', path: '/openapi/v3' } },
  { id: 'openapi-v3-group', method: 'GET', target: '/openapi/v3/apis/apps/v1?hash=ABC', want: { verb: 'get', path: '/openapi/v3/apis/apps/v1' } },
  { id: 'discovery-api', method: 'GET', target: '/api', want: { verb: 'get', path: '/api' } },
  { id: 'discovery-api-v1', method: 'GET', target: '/api/v1', want: { verb: 'get', path: '/api/v1' } },
  { id: 'discovery-apis', method: 'GET', target: '/apis', want: { verb: 'get', path: '/apis' } },
  { id: 'discovery-group', method: 'GET', target: '/apis/apps', want: { verb: 'get', path: '/apis/apps' } },
  { id: 'discovery-group-version', method: 'GET', target: '/apis/apps/v1', want: { verb: 'get', path: '/apis/apps/v1' } },
  { id: 'discovery-trailing-slash-kept', method: 'GET', target: '/apis/', want: { verb: 'get', path: '/apis/' } },
  { id: 'head-non-resource', method: 'HEAD', target: '/healthz', want: { verb: 'head', path: '/healthz' } },
  { id: 'post-non-resource', method: 'POST', target: '/logs/x', want: { verb: 'post', path: '/logs/x' } },
  { id: 'put-debug-flags', method: 'PUT', target: '/debug/flags/v', want: { verb: 'put', path: '/debug/flags/v' } },
  { id: 'options-non-resource', method: 'OPTIONS', target: '/version', want: { verb: 'options', path: '/version' } },
  { id: 'uppercase-prefix-is-not-api', method: 'GET', target: '/API/v1/namespaces/default/secrets', want: { verb: 'get', path: '/API/v1/namespaces/default/secrets' } },
];

interface AmbiguousCase {
  readonly id: string;
  readonly method: string;
  readonly target: string;
  /** A fragment of the problem text. */
  readonly problem: string;
}

const AMBIGUOUS_CASES: readonly AmbiguousCase[] = [
  { id: 'dot-dot', method: 'GET', target: '/api/v1/namespaces/default/pods/../secrets', problem: '. or ..' },
  { id: 'encoded-dot-dot', method: 'GET', target: '/api/v1/namespaces/default/pods/%2e%2e/secrets', problem: '. or ..' },
  { id: 'dot', method: 'GET', target: '/api/v1/./namespaces/default/pods', problem: '. or ..' },
  { id: 'double-slash', method: 'GET', target: '/api//v1/namespaces/default/pods', problem: 'empty segment' },
  { id: 'leading-double-slash', method: 'GET', target: '//api/v1/pods', problem: 'empty segment' },
  { id: 'double-trailing-slash', method: 'GET', target: '/api/v1/pods//', problem: 'empty segment' },
  { id: 'encoded-slash', method: 'DELETE', target: '/api/v1/namespaces/default/pods%2Fweb', problem: 'encoded slash' },
  { id: 'encoded-slash-lower', method: 'GET', target: '/api/v1/namespaces/default/pods/web%2fexec', problem: 'encoded slash' },
  { id: 'double-encoding', method: 'GET', target: '/api/v1/namespaces/default/pods/web/%2565xec', problem: 'twice' },
  { id: 'bad-escape', method: 'GET', target: '/api/v1/namespaces/default/pods/%zz', problem: 'malformed percent-escape' },
  { id: 'truncated-escape', method: 'GET', target: '/api/v1/pods/web%2', problem: 'malformed percent-escape' },
  { id: 'invalid-utf8', method: 'GET', target: '/api/v1/namespaces/default/pods/%ff', problem: 'not UTF-8' },
  { id: 'encoded-nul', method: 'GET', target: '/api/v1/namespaces/default/pods/web%00', problem: 'control' },
  { id: 'encoded-space', method: 'GET', target: '/api/v1/namespaces/default/pods/we%20b', problem: 'space' },
  { id: 'encoded-unicode', method: 'GET', target: '/api/v1/namespaces/default/pods/%C3%A9', problem: 'non-ASCII' },
  { id: 'raw-space', method: 'GET', target: '/api/v1/pods/a b', problem: 'space' },
  { id: 'raw-non-ascii', method: 'GET', target: '/api/v1/pods/\u00e9', problem: 'non-ASCII' },
  { id: 'raw-control', method: 'GET', target: '/api/v1/pods/\u0007', problem: 'control' },
  { id: 'backslash', method: 'GET', target: '/api/v1/namespaces/default/pods\\..\\secrets', problem: 'backslash' },
  { id: 'encoded-backslash', method: 'GET', target: '/api/v1/namespaces/default/pods/a%5Cb', problem: 'backslash' },
  { id: 'fragment', method: 'GET', target: '/api/v1/pods#x', problem: 'fragment' },
  { id: 'relative-target', method: 'GET', target: 'api/v1/pods', problem: 'absolute path' },
  { id: 'absolute-form-target', method: 'GET', target: 'http://evil/api/v1/pods', problem: 'absolute path' },
  { id: 'asterisk-target', method: 'OPTIONS', target: '*', problem: 'absolute path' },
  { id: 'empty-target', method: 'GET', target: '', problem: 'absolute path' },
  { id: 'query-semicolon', method: 'GET', target: '/api/v1/pods?watch=0;watch=1', problem: ';' },
  { id: 'query-bad-escape', method: 'GET', target: '/api/v1/pods?watch=%zz', problem: 'malformed percent-escape' },
  { id: 'unknown-method-resource', method: 'TRACE', target: '/api/v1/pods', problem: 'unsupported HTTP method TRACE' },
  { id: 'options-resource', method: 'OPTIONS', target: '/api/v1/namespaces/default/pods', problem: 'unsupported HTTP method' },
  { id: 'unknown-method-non-resource', method: 'CONNECT', target: '/version', problem: 'unsupported HTTP method' },
  { id: 'watch-path-without-resource', method: 'GET', target: '/api/v1/watch', problem: 'names no resource' },
  { id: 'watch-path-delete', method: 'DELETE', target: '/api/v1/watch/namespaces/default/pods/web', problem: '/watch/ path' },
  { id: 'proxy-path-without-resource', method: 'GET', target: '/api/v1/proxy', problem: 'names no resource' },
  { id: 'extra-segments', method: 'GET', target: '/api/v1/namespaces/default/pods/web/log/extra', problem: 'continues after the subresource' },
  { id: 'uppercase-resource', method: 'DELETE', target: '/api/v1/namespaces/default/PODS/web', problem: 'resource' },
  { id: 'uppercase-subresource', method: 'GET', target: '/api/v1/namespaces/default/pods/web/EXEC', problem: 'subresource' },
  { id: 'uppercase-namespace', method: 'GET', target: '/api/v1/namespaces/Default/pods', problem: 'namespace' },
  { id: 'bad-group', method: 'GET', target: '/apis/Apps/v1/deployments', problem: 'API group' },
  { id: 'bad-version', method: 'GET', target: '/api/V1/pods', problem: 'API version' },
  { id: 'too-long', method: 'GET', target: `/api/v1/pods?x=${'a'.repeat(POLICY_REQUEST_TARGET_MAX_CHARS)}`, problem: 'longer than' },
];

describe('requestAttributes: resource requests', () => {
  for (const c of RESOURCE_CASES) {
    it(`${c.id}: ${c.method} ${c.target}`, () => {
      const got = requestAttributes(c.method, c.target);
      assert.equal(got.kind, 'resource', `${c.id}: kind (${JSON.stringify(got)})`);
      if (got.kind !== 'resource') return;
      assert.equal(got.isResourceRequest, true, `${c.id}: isResourceRequest`);
      assert.equal(got.method, c.method, `${c.id}: method kept`);
      for (const [field, value] of Object.entries(c.want)) {
        assert.equal(got[field as keyof ResourceRequestAttributes], value, `${c.id}: ${field}`);
      }
    });
  }
});

describe('requestAttributes: non-resource requests', () => {
  for (const c of NON_RESOURCE_CASES) {
    it(`${c.id}: ${c.method} ${c.target}`, () => {
      const got = requestAttributes(c.method, c.target);
      assert.equal(got.kind, 'non-resource', `${c.id}: kind (${JSON.stringify(got)})`);
      if (got.kind !== 'non-resource') return;
      assert.equal(got.isResourceRequest, false, `${c.id}: isResourceRequest`);
      assert.equal(got.verb, c.want.verb, `${c.id}: verb`);
      assert.equal(got.path, c.want.path, `${c.id}: path`);
    });
  }
});

describe('requestAttributes: ambiguous requests are never guessed at', () => {
  for (const c of AMBIGUOUS_CASES) {
    it(`${c.id}: ${c.method} ${JSON.stringify(c.target.slice(0, 80))}`, () => {
      const got = requestAttributes(c.method, c.target);
      assert.equal(got.kind, 'ambiguous', `${c.id}: kind (${JSON.stringify(got).slice(0, 300)})`);
      if (got.kind !== 'ambiguous') return;
      assert.equal(got.isResourceRequest, false, `${c.id}: isResourceRequest`);
      assert.ok(got.problem.includes(c.problem), `${c.id}: problem ${JSON.stringify(got.problem)} mentions ${c.problem}`);
      assert.match(got.path, /^[\x20-\x7e]*$/, `${c.id}: path is printable`);
      assert.ok(got.path.length <= 260, `${c.id}: path is bounded`);
      assert.match(got.method, /^([A-Z]{1,16}|\?)$/, `${c.id}: method is a safe token`);
    });
  }

  it('ambiguous-method-display: an unprintable method is shown as ?', () => {
    const got = requestAttributes('G\nET', '/api/v1/pods');
    assert.equal(got.kind, 'ambiguous', 'ambiguous-method-display: kind');
    assert.equal(got.method, '?', 'ambiguous-method-display: method');
  });

  it('ambiguous-query-not-kept: the query (which may hold a secret) is not kept for display', () => {
    const got = requestAttributes('GET', '/api/v1/pods/%zz?token=hunter2');
    assert.equal(got.kind, 'ambiguous', 'ambiguous-query-not-kept: kind');
    assert.ok(!JSON.stringify(got).includes('hunter2'), 'ambiguous-query-not-kept: no query');
  });
});

describe('Security: a WebSocket or SPDY upgrade to exec, attach or portforward is never a read', () => {
  // kubernetes/kubernetes#133515: RequestInfo calls a GET upgrade to pods/exec `get`, so a
  // read-only `get pods/*` grant opened a shell. Here the subresource decides, whatever the method.
  for (const subresource of ['exec', 'attach', 'portforward']) {
    for (const method of ['GET', 'HEAD', 'POST']) {
      it(`upgrade-${subresource}-${method}: is create ${subresource}`, () => {
        const got = requestAttributes(method, `/api/v1/namespaces/default/pods/web/${subresource}?stdin=true&watch=true`);
        assert.equal(got.kind, 'resource', `upgrade-${subresource}-${method}: kind`);
        if (got.kind !== 'resource') return;
        assert.equal(got.verb, 'create', `upgrade-${subresource}-${method}: verb`);
        assert.equal(got.subresource, subresource, `upgrade-${subresource}-${method}: subresource`);
      });
    }
  }

  it('upgrade-disguised: exec hidden by encoding or traversal is create or ambiguous, never get', () => {
    const targets = [
      '/api/v1/namespaces/default/pods/web/%65%78%65%63',
      '/api/v1/namespaces/default/pods/web/log/../exec',
      '/api/v1/namespaces/default/pods/web%2Fexec',
      '/api/v1/namespaces/default/pods/web//exec',
      '/api/v1/namespaces/default/pods/web/exec/',
    ];
    for (const target of targets) {
      const got = requestAttributes('GET', target);
      assert.ok(
        got.kind === 'ambiguous' || (got.kind === 'resource' && got.verb === 'create' && got.subresource === 'exec'),
        `upgrade-disguised ${target}: ${JSON.stringify(got)}`,
      );
    }
  });
});

describe('switchesProtocols: the requests whose Upgrade may travel to the API server (issue 10)', () => {
  const cases: ReadonlyArray<readonly [id: string, method: string, target: string, want: boolean]> = [
    ['exec', 'GET', '/api/v1/namespaces/default/pods/web/exec?command=sh', true],
    ['attach', 'POST', '/api/v1/namespaces/default/pods/web/attach', true],
    ['portforward', 'GET', '/api/v1/namespaces/default/pods/web/portforward', true],
    ['pod-proxy', 'GET', '/api/v1/namespaces/default/pods/web/proxy/ws', true],
    ['pod-port-proxy', 'GET', '/api/v1/namespaces/default/pods/web:8080/proxy/', true],
    ['service-proxy', 'GET', '/api/v1/namespaces/default/services/http:web:80/proxy/ws', true],
    ['node-proxy', 'GET', '/api/v1/nodes/worker-1/proxy/stats', true],
    ['legacy-proxy-verb', 'GET', '/api/v1/proxy/namespaces/default/pods/web/ws', true],
    ['list', 'GET', '/api/v1/namespaces/default/configmaps', false],
    ['get-pod', 'GET', '/api/v1/namespaces/default/pods/web', false],
    ['pod-log', 'GET', '/api/v1/namespaces/default/pods/web/log', false],
    ['configmap-proxy', 'GET', '/api/v1/namespaces/default/configmaps/web/proxy/ws', false],
    ['grouped-proxy', 'GET', '/apis/example.com/v1/namespaces/default/pods/web/proxy/ws', false],
    ['non-resource', 'GET', '/version', false],
    ['ambiguous', 'GET', '/api/v1/namespaces/default/pods/web%2Fproxy/ws', false],
  ];
  for (const [id, method, target, want] of cases) {
    it(`${id}: ${method} ${target} -> ${want}`, () => {
      assert.equal(switchesProtocols(requestAttributes(method, target)), want, id);
    });
  }
});
