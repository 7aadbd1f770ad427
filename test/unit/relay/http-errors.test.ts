/**
 * The relay's error answers: registry codes and statuses, never framework shapes
 * (docs/design.md §3).
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { KubepairError } from '../../../src/errors/index.js';
import { errorAnswer, refuseUpgrade, toRelayError } from '../../../src/relay/http-errors.js';

describe('relay error answers', { timeout: 60_000 }, () => {
  it('keep KubepairErrors with their status and the normative body shape', () => {
    const answer = errorAnswer(new KubepairError('KP_ERR_RELAY_NAMEPLATE_BUSY', 'nameplate 4'));
    assert.equal(answer.status, 409);
    assert.deepEqual(answer.body, {
      error: { code: 'KP_ERR_RELAY_NAMEPLATE_BUSY', message: 'another client is pairing with this nameplate right now; try again in a moment: nameplate 4' },
    });
  });

  it('map framework errors to registry codes', () => {
    const cases: Array<[unknown, string, number]> = [
      [{ validation: [{}], message: 'body must NOT have additional properties' }, 'KP_ERR_RELAY_INVALID_REQUEST', 400],
      [{ code: 'FST_ERR_CTP_BODY_TOO_LARGE', statusCode: 413 }, 'KP_ERR_RELAY_BODY_TOO_LARGE', 413],
      [{ code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 }, 'KP_ERR_RELAY_INVALID_REQUEST', 400],
      [{ code: 'FST_ERR_CTP_INVALID_JSON_BODY', statusCode: 400 }, 'KP_ERR_RELAY_INVALID_REQUEST', 400],
      [new SyntaxError('Unexpected end of JSON input'), 'KP_ERR_RELAY_INVALID_REQUEST', 400],
      [{ statusCode: 431 }, 'KP_ERR_RELAY_INVALID_REQUEST', 400],
      [new TypeError('a bug'), 'KP_ERR_INTERNAL', 500],
    ];
    for (const [err, code, status] of cases) {
      const answer = errorAnswer(err);
      assert.equal(answer.body.error.code, code, JSON.stringify(err));
      assert.equal(answer.status, status, JSON.stringify(err));
    }
    assert.equal(toRelayError(new TypeError('x')).cause instanceof TypeError, true, 'the original is kept as cause');
  });

  it('refuse an upgrade with a complete HTTP answer and close the connection', async () => {
    const socket = new PassThrough();
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const finished = new Promise((resolve) => socket.on('finish', resolve));
    refuseUpgrade(socket, errorAnswer(new KubepairError('KP_ERR_RELAY_UNAUTHORIZED', 'wrong key')), { 'WWW-Authenticate': 'Bearer' });
    await finished;
    const text = Buffer.concat(chunks).toString('utf8');
    const [head, body] = text.split('\r\n\r\n');
    assert.match(head ?? '', /^HTTP\/1\.1 401 Unauthorized\r\n/);
    assert.match(head ?? '', /\r\nConnection: close\r\n/);
    assert.match(head ?? '', /\r\nWWW-Authenticate: Bearer/);
    assert.match(head ?? '', new RegExp(`Content-Length: ${Buffer.byteLength(body ?? '')}`));
    assert.equal((JSON.parse(body ?? '') as { error: { code: string } }).error.code, 'KP_ERR_RELAY_UNAUTHORIZED');
  });
});
