/** The tier table: every row, the descriptions used in messages, and the upgrade-as-GET regression. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { requestAttributes } from '../../../../src/agent/policy/request-attributes.js';
import { classifyTier, describeAction } from '../../../../src/agent/policy/tiers.js';
import type { Tier } from '../../../../src/agent/policy/tiers.js';
import { POLICY_DESCRIPTION_MAX_CHARS } from '../../../../src/limits.js';

type Case = readonly [id: string, method: string, target: string, tier: Tier, description: string];

const NS = '/api/v1/namespaces/default';

const CASES: readonly Case[] = [
  // tier 0: reads, discovery, non-resource GETs, logs
  ['get-pod', 'GET', `${NS}/pods/web`, 0, 'get pods'],
  ['list-pods', 'GET', `${NS}/pods`, 0, 'list pods'],
  ['watch-pods', 'GET', `${NS}/pods?watch=true`, 0, 'watch pods'],
  ['list-deployments', 'GET', '/apis/apps/v1/deployments', 0, 'list deployments.apps'],
  ['get-configmap', 'GET', `${NS}/configmaps/cfg`, 0, 'get configmaps'],
  ['get-serviceaccount', 'GET', `${NS}/serviceaccounts/default`, 0, 'get serviceaccounts'],
  ['list-roles', 'GET', '/apis/rbac.authorization.k8s.io/v1/clusterroles', 0, 'list clusterroles.rbac.authorization.k8s.io'],
  ['pod-log', 'GET', `${NS}/pods/web/log?follow=true`, 0, 'get pods/log'],
  ['deployment-scale-read', 'GET', '/apis/apps/v1/namespaces/default/deployments/web/scale', 0, 'get deployments.apps/scale'],
  ['self-access-review', 'POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', 0, 'create selfsubjectaccessreviews.authorization.k8s.io'],
  ['self-rules-review', 'POST', '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', 0, 'create selfsubjectrulesreviews.authorization.k8s.io'],
  ['whoami', 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', 0, 'create selfsubjectreviews.authentication.k8s.io'],
  ['version', 'GET', '/version', 0, 'get /version'],
  ['discovery-apis', 'GET', '/apis', 0, 'get /apis'],
  ['discovery-group-version', 'GET', '/apis/apps/v1', 0, 'get /apis/apps/v1'],
  ['openapi', 'GET', '/openapi/v3', 0, 'get /openapi/v3'],
  ['healthz-head', 'HEAD', '/healthz', 0, 'head /healthz'],
  ['metrics', 'GET', '/metrics', 0, 'get /metrics'],
  // tier 1: sensitive reads
  ['get-secret', 'GET', `${NS}/secrets/db`, 1, 'get secrets'],
  ['list-secrets', 'GET', `${NS}/secrets`, 1, 'list secrets'],
  ['watch-secrets-path', 'GET', '/api/v1/watch/secrets', 1, 'watch secrets'],
  ['secrets-in-other-group', 'GET', '/apis/example.com/v1/secrets', 1, 'list secrets.example.com'],
  ['token-request', 'POST', `${NS}/serviceaccounts/builder/token`, 1, 'create serviceaccounts/token'],
  ['token-review', 'POST', '/apis/authentication.k8s.io/v1/tokenreviews', 1, 'create tokenreviews.authentication.k8s.io'],
  ['subject-access-review', 'POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', 1, 'create subjectaccessreviews.authorization.k8s.io'],
  ['local-subject-access-review', 'POST', '/apis/authorization.k8s.io/v1/namespaces/default/localsubjectaccessreviews', 1, 'create localsubjectaccessreviews.authorization.k8s.io'],
  ['apiserver-logs', 'GET', '/logs/kube-apiserver.log', 1, 'get /logs/kube-apiserver.log'],
  ['pprof', 'GET', '/debug/pprof/heap', 1, 'get /debug/pprof/heap'],
  // tier 2: changes
  ['create-pod', 'POST', `${NS}/pods`, 2, 'create pods'],
  ['update-configmap', 'PUT', `${NS}/configmaps/cfg`, 2, 'update configmaps'],
  ['patch-deployment', 'PATCH', '/apis/apps/v1/namespaces/default/deployments/web', 2, 'patch deployments.apps'],
  ['scale-deployment', 'PATCH', '/apis/apps/v1/namespaces/default/deployments/web/scale', 2, 'patch deployments.apps/scale'],
  ['pod-status', 'PUT', `${NS}/pods/web/status`, 2, 'update pods/status'],
  ['create-secret', 'POST', `${NS}/secrets`, 2, 'create secrets'],
  ['patch-secret', 'PATCH', `${NS}/secrets/db`, 2, 'patch secrets'],
  ['cordon-node', 'PATCH', '/api/v1/nodes/worker-1', 2, 'patch nodes'],
  ['create-csr', 'POST', '/apis/certificates.k8s.io/v1/certificatesigningrequests', 2, 'create certificatesigningrequests.certificates.k8s.io'],
  ['non-resource-put', 'PUT', '/debug/flags/v', 2, 'put /debug/flags/v'],
  ['non-resource-options', 'OPTIONS', '/version', 2, 'options /version'],
  // tier 3: irreversible or interactive
  ['delete-pod', 'DELETE', `${NS}/pods/web`, 3, 'delete pods'],
  ['deletecollection', 'DELETE', `${NS}/pods`, 3, 'deletecollection pods'],
  ['delete-namespace', 'DELETE', '/api/v1/namespaces/default', 3, 'delete namespaces'],
  ['exec-post', 'POST', `${NS}/pods/web/exec?command=sh`, 3, 'create pods/exec'],
  ['exec-get', 'GET', `${NS}/pods/web/exec?command=sh`, 3, 'create pods/exec'],
  ['attach-get', 'GET', `${NS}/pods/web/attach`, 3, 'create pods/attach'],
  ['portforward-get', 'GET', `${NS}/pods/web/portforward`, 3, 'create pods/portforward'],
  ['pod-proxy-get', 'GET', `${NS}/pods/web/proxy/`, 3, 'get pods/proxy'],
  ['service-proxy', 'GET', `${NS}/services/web/proxy/admin`, 3, 'get services/proxy'],
  ['node-proxy', 'GET', '/api/v1/nodes/worker-1/proxy/configz', 3, 'get nodes/proxy'],
  ['legacy-proxy-verb', 'GET', '/api/v1/proxy/namespaces/default/pods/web', 3, 'proxy pods'],
  ['eviction', 'POST', `${NS}/pods/web/eviction`, 3, 'create pods/eviction'],
  ['ephemeral-container', 'PATCH', `${NS}/pods/web/ephemeralcontainers`, 3, 'patch pods/ephemeralcontainers'],
  ['ephemeral-container-read', 'GET', `${NS}/pods/web/ephemeralcontainers`, 0, 'get pods/ephemeralcontainers'],
  ['create-role', 'POST', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles', 3, 'create roles.rbac.authorization.k8s.io'],
  ['update-clusterrole', 'PUT', '/apis/rbac.authorization.k8s.io/v1/clusterroles/edit', 3, 'update clusterroles.rbac.authorization.k8s.io'],
  ['patch-rolebinding', 'PATCH', '/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings/rb', 3, 'patch rolebindings.rbac.authorization.k8s.io'],
  ['create-clusterrolebinding', 'POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', 3, 'create clusterrolebindings.rbac.authorization.k8s.io'],
  ['create-webhook', 'POST', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations', 3, 'create mutatingwebhookconfigurations.admissionregistration.k8s.io'],
  ['create-apiservice', 'POST', '/apis/apiregistration.k8s.io/v1/apiservices', 3, 'create apiservices.apiregistration.k8s.io'],
  ['csr-approval', 'PUT', '/apis/certificates.k8s.io/v1/certificatesigningrequests/csr-1/approval', 3, 'update certificatesigningrequests.certificates.k8s.io/approval'],
  ['namespace-finalize', 'PUT', '/api/v1/namespaces/stuck/finalize', 3, 'update namespaces/finalize'],
  ['delete-secret', 'DELETE', `${NS}/secrets/db`, 3, 'delete secrets'],
  ['non-resource-delete', 'DELETE', '/debug/x', 3, 'delete /debug/x'],
];

describe('classifyTier', () => {
  for (const [id, method, target, tier, description] of CASES) {
    it(`${id}: ${method} ${target} is tier ${tier} "${description}"`, () => {
      const attributes = requestAttributes(method, target);
      assert.notEqual(attributes.kind, 'ambiguous', `${id}: not ambiguous`);
      const got = classifyTier(attributes);
      assert.equal(got.tier, tier, `${id}: tier (${got.why})`);
      assert.equal(got.description, description, `${id}: description`);
      assert.ok(got.why.length > 0, `${id}: has a why`);
    });
  }

  it('ambiguous: every ambiguous request is tier 3 and says why', () => {
    const attributes = requestAttributes('GET', '/api/v1/namespaces/default/pods/../secrets');
    const got = classifyTier(attributes);
    assert.equal(got.tier, 3, 'ambiguous: tier');
    assert.ok(got.why.startsWith('ambiguous request: '), `ambiguous: why ${got.why}`);
    assert.equal(got.description, 'get /api/v1/namespaces/default/pods/../secrets', 'ambiguous: description');
  });

  it('impersonation: the impersonate verb is tier 3', () => {
    const got = classifyTier({ kind: 'resource', verb: 'impersonate', group: '', resource: 'users', subresource: '', namespace: '', name: 'a' });
    assert.equal(got.tier, 3, 'impersonation: tier');
    assert.equal(got.description, 'impersonate users', 'impersonation: description');
  });

  it('unknown-verb: a verb outside the table is tier 3', () => {
    const got = classifyTier({ kind: 'resource', verb: 'escalate', group: '', resource: 'pods', subresource: '', namespace: '', name: '' });
    assert.equal(got.tier, 3, 'unknown-verb: tier');
  });

  it('description-bounded: descriptions are printable and bounded', () => {
    const long = describeAction({ kind: 'non-resource', verb: 'get', path: `/${'x'.repeat(1000)}\u0007` });
    assert.ok(long.length <= POLICY_DESCRIPTION_MAX_CHARS, 'description-bounded: length');
    assert.match(long, /^[\x20-\x7e]+$/, 'description-bounded: printable');
    const control = describeAction({ kind: 'non-resource', verb: 'get', path: '/a\u001b[31mb' });
    assert.equal(control, 'get /a?[31mb', 'description-bounded: escape replaced');
  });
});

describe('Security: an upgrade request to exec, attach or portforward is tier 3 whatever its method', () => {
  for (const subresource of ['exec', 'attach', 'portforward']) {
    for (const method of ['GET', 'HEAD', 'POST', 'PUT']) {
      it(`upgrade-tier-${subresource}-${method}`, () => {
        const got = classifyTier(requestAttributes(method, `${NS}/pods/web/${subresource}`));
        assert.equal(got.tier, 3, `upgrade-tier-${subresource}-${method}: tier`);
        assert.equal(got.description, `create pods/${subresource}`, `upgrade-tier-${subresource}-${method}: description`);
      });
    }
  }
});
