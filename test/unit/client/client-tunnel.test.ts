/**
 * ClientTunnel's configuration is checked in its constructor (issue 11 §1): a bad Config throws
 * a coded error naming the field before anything is contacted or written; a good one fills in
 * its defaults. And the lifecycle that needs no relay: close() before start, start only once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ClientTunnelConfigInput } from '../../../src/client/client-tunnel.js';
import { ClientTunnel } from '../../../src/client/client-tunnel.js';
import type { ErrorCode } from '../../../src/errors/index.js';
import { isKubepairError } from '../../../src/errors/index.js';

const GOOD: ClientTunnelConfigInput = { relay: { url: 'http://127.0.0.1:8443' }, code: { nameplate: '42', secret: '12345678' } };

/** [case, config fields replaced, expected code, expected message pattern] */
const BAD: ReadonlyArray<readonly [string, Record<string, unknown>, ErrorCode, RegExp]> = [
  ['a port above 65535', { port: 70000 }, 'KP_ERR_INVALID_ARGUMENT', /tunnel configuration: port: /],
  ['a fractional port', { port: 80.5 }, 'KP_ERR_INVALID_ARGUMENT', /port: /],
  ['a forward on "any free port"', { forwards: [{ localPort: 0, target: 'db' }] }, 'KP_ERR_INVALID_ARGUMENT', /forwards\.0\.localPort: a fixed local port/],
  ['a forward target that is not a target name', { forwards: [{ localPort: 5432, target: 'DB;rm' }] }, 'KP_ERR_INVALID_ARGUMENT', /forwards\.0\.target: a target name/],
  ['one local port used twice', { port: 5432, forwards: [{ localPort: 5432, target: 'db' }] }, 'KP_ERR_INVALID_ARGUMENT', /forwards\.0\.localPort: port 5432 is used twice/],
  ['two forwards on one port', { forwards: [{ localPort: 6000, target: 'a' }, { localPort: 6000, target: 'b' }] }, 'KP_ERR_INVALID_ARGUMENT', /forwards\.1\.localPort: port 6000 is used twice/],
  ['a code with a short secret', { code: { nameplate: '42', secret: '1234' } }, 'KP_ERR_INVALID_ARGUMENT', /tunnel configuration: code\.secret: /],
  ['a nameplate with a leading zero', { code: { nameplate: '042', secret: '12345678' } }, 'KP_ERR_INVALID_ARGUMENT', /code\.nameplate: /],
  ['an unknown field', { shell: '/bin/sh' }, 'KP_ERR_INVALID_ARGUMENT', /shell/],
  ['an empty kubeconfig directory', { kubeconfigDir: '' }, 'KP_ERR_INVALID_ARGUMENT', /kubeconfigDir: /],
  ['a handshake timeout of zero', { handshakeStepTimeoutMs: 0 }, 'KP_ERR_INVALID_ARGUMENT', /handshakeStepTimeoutMs: /],
  ['a relay URL with credentials', { relay: { url: 'https://user:pw@relay.example' } }, 'KP_ERR_RELAY_URL_INVALID', /credentials/],
  ['plain http to a relay elsewhere', { relay: { url: 'http://relay.example' } }, 'KP_ERR_RELAY_URL_INSECURE', /relay\.example/],
  ['a malformed relay token', { relay: { url: 'http://127.0.0.1:8443', token: 'secret' } }, 'KP_ERR_INVALID_ARGUMENT', /relay\.token: /],
];

describe('ClientTunnel: the configuration is checked in the constructor', () => {
  for (const [name, fields, code, pattern] of BAD) {
    it(`refuses ${name} with ${code}`, () => {
      assert.throws(
        () => new ClientTunnel({ ...GOOD, ...fields }),
        (err) => isKubepairError(err, code) && pattern.test(err.message),
        `${name}: expected ${code} matching ${pattern}`,
      );
    });
  }

  it('fills in the defaults: any free port, no forwards, the runtime directory', () => {
    const tunnel = new ClientTunnel(GOOD);
    assert.equal(tunnel.state, 'idle');
    assert.equal(tunnel.config.port, 0);
    assert.deepEqual(tunnel.config.forwards, []);
    assert.equal(tunnel.config.kubeconfigDir, undefined);
    assert.equal(tunnel.config.anyLocalUser, false, 'only this user and root may use the local listeners');
  });

  it('close() before start ends it as closed without contacting anyone; start afterwards is refused', async () => {
    const tunnel = new ClientTunnel(GOOD);
    const ends: string[] = [];
    tunnel.on('closed', (end) => ends.push(end.kind));
    await tunnel.close();
    assert.deepEqual(await tunnel.closed, { kind: 'closed' });
    assert.deepEqual(ends, ['closed']);
    await assert.rejects(tunnel.start(), (err) => isKubepairError(err, 'KP_ERR_INTERNAL'));
  });

  it('a start signal already aborted: start rejects with KP_ERR_ABORTED and the tunnel ends closed', async () => {
    const tunnel = new ClientTunnel({ ...GOOD, kubeconfigDir: '/nonexistent-kubepair-dir' });
    await assert.rejects(tunnel.start(AbortSignal.abort()), (err) => isKubepairError(err, 'KP_ERR_ABORTED'));
    assert.deepEqual(await tunnel.closed, { kind: 'closed' });
  });
});
