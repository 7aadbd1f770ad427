/** Browser origins (docs/design.md §7): no Origin passes, a listed Origin passes with CORS, any other is denied. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OriginPolicy } from '../../../src/relay/origin-policy.js';

describe('Security: OriginPolicy', { timeout: 60_000 }, () => {
  it('denies every browser origin by default and lets non-browser clients (no Origin) pass', () => {
    const policy = new OriginPolicy([]);
    assert.deepEqual(policy.check(undefined), { kind: 'none' });
    for (const origin of ['https://ops.example.com', 'null', 'http://localhost:3000', '']) {
      assert.deepEqual(policy.check(origin), { kind: 'denied' }, origin);
    }
  });

  it('allows exactly the listed origins, case-insensitively, and nothing that merely resembles them', () => {
    const policy = new OriginPolicy(['https://ops.example.com', 'http://localhost:3000']);
    assert.deepEqual(policy.check('https://ops.example.com'), { kind: 'allowed', origin: 'https://ops.example.com' });
    assert.deepEqual(policy.check('HTTPS://OPS.EXAMPLE.COM'), { kind: 'allowed', origin: 'https://ops.example.com' });
    for (const origin of ['http://ops.example.com', 'https://ops.example.com.evil.com', 'https://evil.ops.example.com', 'https://ops.example.com:8443', 'http://localhost:3001']) {
      assert.deepEqual(policy.check(origin), { kind: 'denied' }, origin);
    }
    assert.deepEqual(policy.check(['https://ops.example.com', 'https://x']), { kind: 'denied' }, 'repeated headers');
    assert.deepEqual(policy.check('x'.repeat(600)), { kind: 'denied' });
  });

  it('CORS headers name the single allowed origin and vary by Origin', () => {
    assert.deepEqual(OriginPolicy.corsHeaders('https://ops.example.com'), { 'access-control-allow-origin': 'https://ops.example.com', vary: 'Origin' });
    assert.match(OriginPolicy.preflightHeaders()['access-control-allow-headers'] ?? '', /authorization/);
  });
});
