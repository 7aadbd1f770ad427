/**
 * RelayAudit: a bounded backlog, and readiness that comes back once the loss is recorded
 * (issue 10: after an overflow the relay stayed not ready for good).
 */
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { isKubepairError } from '../../../src/errors/index.js';
import { RelayAudit } from '../../../src/relay/relay-audit.js';
import { createRelayLogger } from '../../../src/relay/relay-log.js';
import { privateTempDir } from '../../helpers/relay-process.js';
import { waitUntil } from '../../helpers/wait-until.js';

/** A relay logger whose JSON lines are kept for assertions. */
function capturingLogger(): { log: ReturnType<typeof createRelayLogger>; lines: string[] } {
  const lines: string[] = [];
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').trimEnd().split('\n'));
      done();
    },
  });
  return { log: createRelayLogger('info', out), lines };
}

async function records(path: string): Promise<Array<Record<string, unknown>>> {
  return (await readFile(path, 'utf8')).trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('Security: RelayAudit under a flood', { timeout: 60_000 }, () => {
  it('refuses records beyond the backlog, then records the loss and is ready again once the backlog drains', async () => {
    const dir = await privateTempDir('kubepair-relay-audit-');
    const path = join(dir, 'relay-audit.jsonl');
    const { log, lines } = capturingLogger();
    const audit = await RelayAudit.open({ path, logger: log, backlog: 16 });
    try {
      const flood = 500;
      // Synchronous notes, as a flood of refused requests used to make: more than the backlog waits.
      for (let i = 0; i < flood; i++) audit.note('socket_refused', { session: `s${i}`, reason: 'KP_ERR_RELAY_UNAUTHORIZED' });
      assert.equal(audit.healthy, false, 'not ready while records are being lost');
      await assert.rejects(audit.record('session_created', { session: 'refused' }), (err) => isKubepairError(err, 'KP_ERR_AUDIT_BACKLOG'));
      await waitUntil(() => audit.healthy, 15_000, 'the relay audit to be healthy again');
      const written = await records(path);
      const notes = written.filter((r) => r.event === 'socket_refused');
      assert.equal(notes.length, 16, 'exactly the backlog was accepted');
      const lost = written.filter((r) => r.event === 'audit_records_lost');
      assert.equal(lost.length, 1, 'one record says what is missing');
      assert.equal(lost[0]?.count, flood - 16 + 1, 'every refused note and the refused record');
      assert.equal(lost[0]?.reason, 'KP_ERR_AUDIT_BACKLOG');
      assert.equal(lines.filter((line) => line.includes('"event":"audit_write_failed"')).length, 1, 'one error line, not one per lost record');
      // Ready means writable: a new record goes through.
      await audit.record('session_created', { session: 'after' });
      assert.equal(audit.healthy, true);
    } finally {
      await audit.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
