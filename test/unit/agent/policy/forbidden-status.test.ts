/** The 403 answer: the exact Status JSON the API server would send, and safe against the request's content. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { forbiddenResponse, forbiddenStatus } from '../../../../src/agent/policy/forbidden-status.js';
import { RequestPolicy } from '../../../../src/agent/policy/policy.js';
import { requestAttributes } from '../../../../src/agent/policy/request-attributes.js';

function refusal(options: Parameters<typeof RequestPolicy.create>[0], method: string, target: string) {
  const attributes = requestAttributes(method, target);
  const decision = RequestPolicy.create(options).decide(attributes);
  assert.equal(decision.decision, 'deny', `${method} ${target} is refused`);
  return { attributes, decision };
}

describe('forbiddenStatus', () => {
  it('status-resource: a Status 403 Forbidden with the resource details', () => {
    const { attributes, decision } = refusal({ mode: 'guarded' }, 'DELETE', '/apis/apps/v1/namespaces/default/deployments/web');
    assert.deepEqual(
      forbiddenStatus(decision, attributes),
      {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message:
          'kubepair policy "guarded" refuses "delete deployments.apps" (tier 3): tiers 2-3 need a matching --allow rule (the sharer can add --allow "delete deployments.apps")',
        reason: 'Forbidden',
        details: { name: 'web', group: 'apps', kind: 'deployments' },
        code: 403,
      },
      'status-resource',
    );
  });

  it('status-deny-rule: the message names the --deny rule', () => {
    const { attributes, decision } = refusal({ mode: 'open', deny: ['delete pods'] }, 'DELETE', '/api/v1/namespaces/default/pods/web');
    const status = forbiddenStatus(decision, attributes);
    assert.equal(
      status.message,
      'kubepair policy "open" refuses "delete pods" (tier 3): refused by --deny "delete pods"',
      'status-deny-rule: message',
    );
    assert.deepEqual(status.details, { name: 'web', kind: 'pods' }, 'status-deny-rule: core group omitted');
  });

  it('status-collection: no name in details for a collection request', () => {
    const { attributes, decision } = refusal({ mode: 'readonly' }, 'GET', '/api/v1/namespaces/default/secrets');
    assert.deepEqual(forbiddenStatus(decision, attributes).details, { kind: 'secrets' }, 'status-collection');
  });

  it('status-non-resource: no details for a non-resource URL', () => {
    const { attributes, decision } = refusal({ mode: 'readonly' }, 'GET', '/logs/kube-apiserver.log');
    const status = forbiddenStatus(decision, attributes);
    assert.equal('details' in status, false, 'status-non-resource: no details');
    assert.equal(status.message.startsWith('kubepair policy "readonly" refuses "get /logs/kube-apiserver.log" (tier 1)'), true, 'status-non-resource: message');
  });

  it('status-ambiguous: no details, message printable', () => {
    const { attributes, decision } = refusal({ mode: 'guarded' }, 'GET', '/api/v1/namespaces/default/pods/%C3%A9/../x');
    const status = forbiddenStatus(decision, attributes);
    assert.equal('details' in status, false, 'status-ambiguous: no details');
    assert.match(status.message, /^[\x20-\x7e]+$/, 'status-ambiguous: printable message');
  });

  it('response: content type JSON, length matches, body parses back to the Status', () => {
    const { attributes, decision } = refusal({ mode: 'readonly' }, 'POST', '/api/v1/namespaces/default/pods/web/exec?command=sh');
    const response = forbiddenResponse(decision, attributes);
    assert.equal(response.statusCode, 403, 'response: status code');
    assert.equal(response.headers['content-type'], 'application/json', 'response: content type');
    assert.equal(response.headers['content-length'], String(Buffer.byteLength(response.body)), 'response: length');
    assert.equal(response.headers['x-content-type-options'], 'nosniff', 'response: nosniff');
    assert.deepEqual(JSON.parse(response.body), forbiddenStatus(decision, attributes), 'response: body');
  });
});

describe('Security: request content cannot shape the refusal beyond JSON-escaped details', () => {
  it('hostile-name: quotes and angle brackets in the object name stay inside details', () => {
    const { attributes, decision } = refusal(
      { mode: 'readonly' },
      'DELETE',
      '/api/v1/namespaces/default/configmaps/%22%3Cscript%3E%22,%22code%22:200',
    );
    const response = forbiddenResponse(decision, attributes);
    const parsed = JSON.parse(response.body) as { code: number; message: string; details: { name: string } };
    assert.equal(parsed.code, 403, 'hostile-name: code unchanged');
    assert.equal(parsed.details.name, '"<script>","code":200', 'hostile-name: name kept verbatim in details');
    assert.ok(!parsed.message.includes('<script>'), 'hostile-name: not in the message');
  });
});
