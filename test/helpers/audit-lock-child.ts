/**
 * Child process for the one-writer-per-file tests: a second process on the same audit file,
 * as a second `share` would be.
 *
 * Usage: node audit-lock-child.js PATH COUNT hold|retry
 *
 * - `hold`: open the chained log, append COUNT records, print `{"opened":true,"pid":N}`, and keep
 *   the log open until stdin ends (or the process is killed); then close it.
 *   When the open fails, print `{"opened":false,"code":...,"message":...}` and exit 2.
 * - `retry`: try to open until the lock is free (bounded: 2,000 tries about 5 ms apart), append
 *   COUNT records marked with this pid, close, and print `{"opened":true,"attempts":N}`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { AuditLog } from '../../src/audit/audit-log.js';
import { isKubepairError } from '../../src/errors/index.js';

const MAX_TRIES = 2000;
const [path = '', countText = '0', mode = 'hold'] = process.argv.slice(2);
const count = Number(countText);

function print(value: unknown): void {
  process.stdout.write(JSON.stringify(value) + '\n');
}

async function appendAll(log: AuditLog): Promise<void> {
  for (let i = 0; i < count; i++) await log.append({ event: 'lock_test', writer: process.pid, i });
}

if (mode === 'hold') {
  let log: AuditLog;
  try {
    log = await AuditLog.open({ path, chain: true });
  } catch (err) {
    print({ opened: false, code: isKubepairError(err) ? err.code : 'unexpected', message: err instanceof Error ? err.message : String(err) });
    process.exit(2);
  }
  await appendAll(log);
  print({ opened: true, pid: process.pid });
  process.stdin.resume();
  await new Promise((resolve) => process.stdin.once('end', resolve));
  await log.close();
} else {
  let attempts = 0;
  let log: AuditLog | undefined;
  while (log === undefined && attempts < MAX_TRIES) {
    attempts++;
    try {
      log = await AuditLog.open({ path, chain: true });
    } catch (err) {
      if (!isKubepairError(err, 'KP_ERR_AUDIT_LOCKED')) throw err;
      await sleep(5);
    }
  }
  if (log === undefined) {
    print({ opened: false, attempts });
    process.exit(1);
  }
  await appendAll(log);
  await log.close();
  print({ opened: true, attempts });
}
