/**
 * RefusalAudit: refusals summed per address and window, the first of each kind written at once,
 * bounded lines and memory whatever arrives (issue 10: one audit line per refused request
 * overflowed the relay's audit backlog).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AuditFieldValue, RelayAuditEvent, RelayAuditSink } from '../../../src/relay/relay-audit.js';
import { RefusalAudit } from '../../../src/relay/refusal-audit.js';

type Line = { event: RelayAuditEvent } & Record<string, AuditFieldValue>;

function sink(): RelayAuditSink & { lines: Line[] } {
  const lines: Line[] = [];
  return { lines, note: (event, fields) => lines.push({ event, ...fields }) };
}

const UNAUTHORIZED = { where: 'api', reason: 'KP_ERR_RELAY_UNAUTHORIZED', route: '/metrics' } as const;

describe('Security: RefusalAudit', { timeout: 60_000 }, () => {
  it('10,000 failures of one address: the first at once, then one summary with the count', () => {
    const audit = sink();
    let now = Date.parse('2025-01-01T00:00:00Z');
    const refusals = new RefusalAudit({ sink: audit, windowMs: 60_000, capacity: 16, now: () => now });
    try {
      for (let i = 0; i < 10_000; i++) {
        refusals.authFailed('198.51.100.7', UNAUTHORIZED);
        if (i === 20) refusals.limitHit('198.51.100.7', 'auth_failures');
        if (i > 20) refusals.limitHit('198.51.100.7', 'auth_failures');
        now += 1;
      }
      assert.deepEqual(
        audit.lines.map((line) => line.event),
        ['auth_failed', 'limit_hit'],
        'until the window ends only the first of each kind is written',
      );
      assert.deepEqual(audit.lines[0], { event: 'auth_failed', ...UNAUTHORIZED, address: '198.51.100.7' });
      refusals.flush();
      assert.deepEqual(audit.lines[2], {
        event: 'refusals_summary',
        address: '198.51.100.7',
        auth_failed: 10_000,
        rate_limit: 0,
        auth_failures: 9_980,
        connections_per_address: 0,
        reconnects: 0,
        first_at: '2025-01-01T00:00:00.000Z',
        last_at: new Date(now - 1).toISOString(),
      });
      assert.equal(audit.lines.length, 3);
      assert.equal(refusals.size, 0, 'the window is over: nothing is kept');
    } finally {
      refusals.close();
    }
  });

  it('a single refusal is written once and needs no summary', () => {
    const audit = sink();
    const refusals = new RefusalAudit({ sink: audit, windowMs: 60_000, capacity: 16 });
    refusals.authFailed('192.0.2.1', UNAUTHORIZED);
    refusals.close();
    assert.deepEqual(audit.lines.map((line) => line.event), ['auth_failed']);
  });

  it('a new window writes the first refusal of an address at once again', () => {
    const audit = sink();
    const refusals = new RefusalAudit({ sink: audit, windowMs: 60_000, capacity: 16 });
    try {
      refusals.authFailed('192.0.2.1', UNAUTHORIZED);
      refusals.authFailed('192.0.2.1', UNAUTHORIZED);
      refusals.flush();
      refusals.authFailed('192.0.2.1', UNAUTHORIZED);
      assert.deepEqual(audit.lines.map((line) => line.event), ['auth_failed', 'refusals_summary', 'auth_failed']);
    } finally {
      refusals.close();
    }
  });

  it('many addresses: at most `capacity` are tracked, the rest are summed into one record; lines stay bounded', () => {
    const audit = sink();
    const capacity = 100;
    const refusals = new RefusalAudit({ sink: audit, windowMs: 60_000, capacity });
    try {
      // An attacker with a /64 of IPv6 addresses: every request from another one.
      const addresses = 5_000;
      for (let i = 0; i < addresses; i++) {
        for (let j = 0; j < 3; j++) refusals.authFailed(`2001:db8::${i.toString(16)}`, UNAUTHORIZED);
        refusals.limitHit(`2001:db8::${i.toString(16)}`, 'connections_per_address');
        assert.ok(refusals.size <= capacity, `${refusals.size} addresses tracked`);
      }
      refusals.flush();
      // Per tracked address: auth_failed, limit_hit, summary. Plus one summary for all the others.
      assert.equal(audit.lines.length, capacity * 3 + 1);
      const untracked = audit.lines.filter((line) => line.event === 'refusals_summary' && line.address === null);
      assert.equal(untracked.length, 1);
      assert.equal(untracked[0]?.auth_failed, (addresses - capacity) * 3);
      assert.equal(untracked[0]?.connections_per_address, addresses - capacity);
      const total = audit.lines.filter((line) => line.event === 'refusals_summary').reduce((sum, line) => sum + Number(line.auth_failed), 0);
      assert.equal(total, addresses * 3, 'every refusal is in exactly one summary');
    } finally {
      refusals.close();
    }
  });

  it('after close nothing more is recorded (the relay is stopping)', () => {
    const audit = sink();
    const refusals = new RefusalAudit({ sink: audit, windowMs: 60_000, capacity: 16 });
    refusals.close();
    refusals.authFailed('192.0.2.1', UNAUTHORIZED);
    refusals.limitHit('192.0.2.1', 'rate_limit');
    assert.deepEqual(audit.lines, []);
  });
});
