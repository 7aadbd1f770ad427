/**
 * protocol/kube-status.ts: the one builder of the Status bodies kubepair answers kubectl with.
 * Walks every HTTP status either role answers with itself and checks the reason is the one
 * kube-apiserver pairs with it (apimachinery's StatusReason), that the body is a meta/v1
 * Status in kube-apiserver's field order, and that untrusted text stays inside JSON strings.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { STATUS_REASONS, kubeStatus, kubeStatusBody, reasonPhrase, statusReason } from '../../../src/protocol/kube-status.js';

/** Every status kubepair answers with itself, and the reason kube-apiserver gives it. */
const ANSWERED: ReadonlyArray<readonly [number, string, string]> = [
  [400, 'BadRequest', 'agent: malformed request; client listener: not HTTP/1.1'],
  [401, 'Unauthorized', 'client listener: no or wrong bearer token'],
  [403, 'Forbidden', 'agent: the policy refuses'],
  [405, 'MethodNotAllowed', 'agent: a method it does not forward'],
  [408, 'Timeout', 'client listener and agent: no request head in time'],
  [417, 'BadRequest', 'agent: an Expect it cannot meet'],
  [431, 'BadRequest', 'client listener and agent: request head too large'],
  [500, 'InternalError', 'a kubepair failure'],
  [501, 'BadRequest', 'agent: a transfer coding it does not implement'],
  [502, 'InternalError', 'agent: the API server cannot be reached'],
  [504, 'Timeout', 'the API server did not answer in time'],
  [505, 'BadRequest', 'agent: not HTTP/1.1'],
];

describe('Kubernetes Status answers (one builder)', () => {
  for (const [code, reason, where] of ANSWERED) {
    it(`${code} → ${reason} (${where})`, () => {
      assert.equal(statusReason(code), reason, `status ${code}`);
      const body = JSON.parse(kubeStatusBody(code, `kubepair: ${where}`)) as Record<string, unknown>;
      assert.deepEqual(Object.keys(body), ['kind', 'apiVersion', 'metadata', 'status', 'message', 'reason', 'code'], `field order for ${code}`);
      assert.deepEqual(body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `kubepair: ${where}`, reason, code }, `status ${code}`);
      assert.notEqual(reasonPhrase(code), 'Error', `status ${code} has an HTTP reason phrase`);
    });
  }

  it('every reason in the table is one kube-apiserver uses, and an unknown status is Unknown', () => {
    const known = new Set(['BadRequest', 'Unauthorized', 'Forbidden', 'NotFound', 'MethodNotAllowed', 'NotAcceptable', 'Timeout', 'Conflict', 'Expired', 'RequestEntityTooLarge', 'UnsupportedMediaType', 'Invalid', 'TooManyRequests', 'InternalError', 'ServiceUnavailable']);
    for (const [code, reason] of Object.entries(STATUS_REASONS)) assert.ok(known.has(reason), `${code}: ${reason}`);
    assert.equal(statusReason(418), 'Unknown');
    assert.equal(statusReason(599), 'Unknown');
  });

  it('details sit between reason and code, as in apierrors.NewForbidden', () => {
    const status = kubeStatus(403, 'no', { name: 'web', group: 'apps', kind: 'deployments' });
    assert.deepEqual(Object.keys(status), ['kind', 'apiVersion', 'metadata', 'status', 'message', 'reason', 'details', 'code']);
  });

  it('Security: a hostile message stays a JSON string (no field can be injected)', () => {
    const hostile = '","reason":"Success","code":200,"x":"\u001b]0;t\u0007\n';
    const body = JSON.parse(kubeStatusBody(400, hostile)) as Record<string, unknown>;
    assert.equal(body['message'], hostile);
    assert.equal(body['reason'], 'BadRequest');
    assert.equal(body['code'], 400);
  });
});
