/** The relay log: JSON lines through the redaction module; queries and stacks never logged. */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { KubepairError } from '../../../src/errors/index.js';
import { createRelayLogger, describeError, pathOnly } from '../../../src/relay/relay-log.js';

function capture(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString('utf8'));
      callback();
    },
  });
  return { stream, text: () => chunks.join('') };
}

describe('Security: relay log', { timeout: 60_000 }, () => {
  it('redacts bearer credentials in messages and fields', () => {
    const out = capture();
    const log = createRelayLogger('info', out.stream);
    log.info({ header: 'Bearer kprt_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG', authorization: 'anything' }, 'got Bearer abcdefghijklmnop');
    const text = out.text();
    assert.ok(!text.includes('kprt_abcdefghij'), text);
    assert.ok(!text.includes('abcdefghijklmnop'), text);
    assert.ok(!text.includes('anything'), text);
    const record = JSON.parse(text) as Record<string, unknown>;
    assert.equal(record.level, 'info');
    assert.equal(record.component, 'relay');
  });

  it('logs errors as code and message, without a stack', () => {
    const out = capture();
    const log = createRelayLogger('info', out.stream);
    log.error({ err: new KubepairError('KP_ERR_RELAY_TLS', 'bad key') }, 'failed');
    const record = JSON.parse(out.text()) as { err: Record<string, unknown> };
    assert.deepEqual(record.err, { code: 'KP_ERR_RELAY_TLS', message: 'cannot load the relay TLS certificate or key: bad key' });
    assert.ok(!out.text().includes('    at '));
    assert.deepEqual(describeError(Object.assign(new Error('x'), { code: 'ECONNRESET' })), { code: 'ECONNRESET', message: 'x' });
  });

  it('pathOnly drops the query and fragment of a URL', () => {
    assert.equal(pathOnly('/api/v1/sessions?token=kprt_secret'), '/api/v1/sessions');
    assert.equal(pathOnly('/ws/v1/agent/x#frag'), '/ws/v1/agent/x');
    assert.equal(pathOnly(undefined), '');
  });
});
