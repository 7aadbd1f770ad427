/**
 * Child process for audit-log tests that need a real write failure: run under
 * `ulimit -f` (RLIMIT_FSIZE, which binds root too), so a write past the limit is cut short and
 * the next one fails with EFBIG. Appends `count` records of about 300 bytes to a chained log
 * and prints one JSON line: the outcome of each append and the error count.
 *
 * Usage: node audit-write-child.js PATH COUNT fail-open|fail-closed
 */
import { AuditLog } from '../../src/audit/audit-log.js';
import { isKubepairError } from '../../src/errors/index.js';

const [path = '', countText = '0', mode = 'fail-closed'] = process.argv.slice(2);
const reported: string[] = [];
const log = await AuditLog.open({
  path,
  chain: true,
  failOpen: mode === 'fail-open',
  onError: (err) => reported.push(err.code),
});
const outcomes: string[] = [];
for (let i = 0; i < Number(countText); i++) {
  try {
    await log.append({ time: '2030-01-01T00:00:00.000Z', i, pad: 'p'.repeat(120) });
    outcomes.push('ok');
  } catch (err) {
    outcomes.push(isKubepairError(err) ? err.code : 'unexpected');
  }
}
await log.close();
process.stdout.write(JSON.stringify({ outcomes, errorCount: log.errorCount, reported }) + '\n');
