/**
 * One writer per audit file, across processes (src/audit/writer-lock.ts, docs/audit.md "One
 * writer per file"): real child processes open the same file the way two `share` processes
 * would. A second writer is refused with the other's pid; rotation keeps the lock; the lock of
 * a SIGKILLed writer, or of a pid since reused, is taken over; writers racing for a file (and
 * for a stale lock) take turns, so the chain they write verifies.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AuditLog } from '../../../src/audit/audit-log.js';
import { verifyAuditFiles } from '../../../src/audit/verify.js';
import { processStartIdentity, writerLockPath } from '../../../src/audit/writer-lock.js';
import { isKubepairError } from '../../../src/errors/index.js';
import { repoPath } from '../../helpers/paths.js';

const CHILD = repoPath('build/test/helpers/audit-lock-child.js');
const CHILD_TIMEOUT_MS = 30_000;

interface ChildOutcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly lines: Array<Record<string, unknown>>;
}

interface RunningChild {
  readonly child: ChildProcessWithoutNullStreams;
  /** Resolves with the first line the child prints. */
  readonly firstLine: Promise<Record<string, unknown>>;
  readonly exited: Promise<ChildOutcome>;
}

function startChild(path: string, count: number, mode: 'hold' | 'retry'): RunningChild {
  const child = spawn(process.execPath, [CHILD, path, String(count), mode], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
  let announce: (line: Record<string, unknown>) => void = () => undefined;
  let fail: (err: Error) => void = () => undefined;
  const firstLine = new Promise<Record<string, unknown>>((resolve, reject) => {
    announce = resolve;
    fail = reject;
  });
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    const end = out.indexOf('\n');
    if (end >= 0) announce(JSON.parse(out.slice(0, end)) as Record<string, unknown>);
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
  const exited = new Promise<ChildOutcome>((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      fail(new Error(`the child exited (${code ?? signal}) before printing: ${err}`));
      const lines = out.split('\n').filter((line) => line !== '').map((line) => JSON.parse(line) as Record<string, unknown>);
      resolve({ code, signal, lines });
    });
  });
  return { child, firstLine, exited };
}

/** A pid that belonged to a process that has exited (and been reaped). */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  const pid = child.pid ?? 0;
  await new Promise((resolve) => child.once('close', resolve));
  return pid;
}

async function lockOwner(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(writerLockPath(path), 'utf8')) as Record<string, unknown>;
}

async function writeLock(path: string, owner: Record<string, unknown>): Promise<void> {
  await writeFile(writerLockPath(path), JSON.stringify(owner) + '\n', { mode: 0o600 });
}

describe('Security: one writer per audit file, across processes', { timeout: 120_000 }, async () => {
  const base = await mkdtemp(join(tmpdir(), 'kubepair-audit-lock-'));
  after(() => rm(base, { recursive: true, force: true }));

  it('a second process is refused with KP_ERR_AUDIT_LOCKED naming the file and the writer\'s pid, until the first closes', async () => {
    const path = join(base, 'two', 'audit.jsonl');
    const first = startChild(path, 3, 'hold');
    try {
      const opened = await first.firstLine;
      assert.equal(opened['opened'], true);
      const holder = Number(opened['pid']);
      assert.equal((await stat(writerLockPath(path))).mode & 0o777, 0o600, 'the lock file is private');

      const second = await startChild(path, 1, 'hold').exited;
      assert.equal(second.code, 2, 'the second writer exits 2');
      assert.equal(second.lines[0]?.['code'], 'KP_ERR_AUDIT_LOCKED');
      assert.equal(
        second.lines[0]?.['message'],
        `another process writes this audit log (one writer per file): ${path} is written by pid ${holder}; give each share its own --audit-log`,
      );
      await assert.rejects(AuditLog.open({ path, chain: true }), (err) => isKubepairError(err, 'KP_ERR_AUDIT_LOCKED') && err.message.includes(`pid ${holder}`));
    } finally {
      first.child.stdin.end();
    }
    assert.equal((await first.exited).code, 0);
    await assert.rejects(stat(writerLockPath(path)), { code: 'ENOENT' }, 'the lock is gone after close');
    const next = await AuditLog.open({ path, chain: true });
    await next.append({ event: 'after' });
    await next.close();
    assert.ok((await verifyAuditFiles([path])).ok, 'one chain');
  });

  it('rotation keeps the lock: a writer rotating its file is still the only one', async () => {
    const path = join(base, 'rotating', 'audit.jsonl');
    const log = await AuditLog.open({ path, chain: true, maxBytes: 1024, keep: 3 });
    try {
      for (let i = 0; i < 40; i++) await log.append({ event: 'pad', i, pad: 'x'.repeat(100) });
      const names = await readdir(dirname(path));
      assert.ok(names.includes('audit.jsonl.3'), `rotated several times: ${names.join(', ')}`);
      assert.equal((await lockOwner(path))['pid'], process.pid, 'the lock still names this writer');
      const other = await startChild(path, 1, 'hold').exited;
      assert.equal(other.code, 2);
      assert.equal(other.lines[0]?.['code'], 'KP_ERR_AUDIT_LOCKED');
      assert.match(String(other.lines[0]?.['message']), new RegExp(`is written by pid ${process.pid};`));
    } finally {
      await log.close();
    }
  });

  it('the lock of a SIGKILLed writer is taken over, and the chain continues from its last record', async () => {
    const path = join(base, 'killed', 'audit.jsonl');
    const writer = startChild(path, 5, 'hold');
    const opened = await writer.firstLine;
    writer.child.kill('SIGKILL');
    assert.equal((await writer.exited).signal, 'SIGKILL');
    assert.equal((await lockOwner(path))['pid'], opened['pid'], 'the dead writer\'s lock is still there');

    const log = await AuditLog.open({ path, chain: true });
    assert.equal((await lockOwner(path))['pid'], process.pid, 'taken over');
    await log.append({ event: 'after_takeover' });
    await log.close();
    const verified = await verifyAuditFiles([path]);
    assert.ok(verified.ok, JSON.stringify(verified));
    assert.equal((await readFile(path, 'utf8')).split('\n').filter((line) => line !== '').length, 6);
  });

  it('a lock is taken over only when its writer is provably gone', async () => {
    const path = join(base, 'judged', 'audit.jsonl');
    const seed = await AuditLog.open({ path });
    await seed.close();
    const me = { host: hostname(), nonce: 'n'.repeat(32) };
    const alive = await processStartIdentity(process.ppid);
    assert.ok(alive.startsWith('linux:'), `this test runs on Linux with /proc: ${alive}`);
    const cases: ReadonlyArray<readonly [string, Record<string, unknown>, 'taken' | 'refused']> = [
      ['a dead pid', { ...me, pid: await deadPid(), started: alive }, 'taken'],
      ['a live pid that started at another time (reused)', { ...me, pid: process.ppid, started: `${alive}0` }, 'taken'],
      ['a live pid with its own start time', { ...me, pid: process.ppid, started: alive }, 'refused'],
      ['a live pid with no start time recorded', { ...me, pid: process.ppid, started: '' }, 'refused'],
      ['another host', { ...me, host: `${hostname()}-elsewhere`, pid: await deadPid(), started: '' }, 'refused'],
      ['not a kubepair lock', { hello: 'world' }, 'refused'],
    ];
    for (const [id, owner, expected] of cases) {
      await writeLock(path, owner);
      if (expected === 'taken') {
        const log = await AuditLog.open({ path });
        assert.equal((await lockOwner(path))['pid'], process.pid, `${id}: taken over`);
        await log.close();
      } else {
        await assert.rejects(AuditLog.open({ path }), (err) => isKubepairError(err, 'KP_ERR_AUDIT_LOCKED'), `${id}: refused`);
        assert.deepEqual(await lockOwner(path), owner, `${id}: the lock is left as it was`);
        await rm(writerLockPath(path));
      }
    }
  });

  it('a takeover guard left by a dead process is not guessed about: the writer is refused with the path to remove', async () => {
    const path = join(base, 'guard', 'audit.jsonl');
    const seed = await AuditLog.open({ path });
    await seed.close();
    const dead = { host: hostname(), nonce: 'd'.repeat(32), started: '' };
    await writeLock(path, { ...dead, pid: await deadPid() });
    await writeFile(`${writerLockPath(path)}.takeover`, JSON.stringify({ ...dead, pid: await deadPid() }));
    await assert.rejects(
      AuditLog.open({ path }),
      (err) => isKubepairError(err, 'KP_ERR_AUDIT_LOCKED') && err.message.includes(`remove ${writerLockPath(path)}.takeover`),
    );
    await rm(`${writerLockPath(path)}.takeover`);
    const log = await AuditLog.open({ path });
    await log.close();
  });

  it('six processes racing for a file whose writer was SIGKILLed take turns: no record interleaves and the chain verifies', async () => {
    const path = join(base, 'race', 'audit.jsonl');
    const PER_WRITER = 25;
    const WRITERS = 6;
    const killed = startChild(path, 2, 'hold');
    await killed.firstLine;
    killed.child.kill('SIGKILL');
    await killed.exited;

    const racers = Array.from({ length: WRITERS }, () => startChild(path, PER_WRITER, 'retry'));
    const outcomes = await Promise.all(racers.map((racer) => racer.exited));
    for (const [index, outcome] of outcomes.entries()) {
      assert.equal(outcome.code, 0, `writer ${index}: ${JSON.stringify(outcome.lines)}`);
      assert.equal(outcome.lines[0]?.['opened'], true, `writer ${index} opened the log in the end`);
    }
    assert.ok(outcomes.some((outcome) => Number(outcome.lines[0]?.['attempts']) > 1), 'some writers had to wait for the lock');

    const verified = await verifyAuditFiles([path]);
    assert.ok(verified.ok, `the chain verifies: ${JSON.stringify(verified)}`);
    const records = (await readFile(path, 'utf8'))
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { writer: number; i: number });
    assert.equal(records.length, 2 + WRITERS * PER_WRITER, 'every record of every writer');
    // Each writer's records form one block, in order: nobody wrote while another held the lock.
    const racerRecords = records.slice(2);
    for (let block = 0; block < WRITERS; block++) {
      const slice = racerRecords.slice(block * PER_WRITER, (block + 1) * PER_WRITER);
      const writer = slice[0]?.writer;
      assert.deepEqual(slice.map((r) => [r.writer, r.i]), Array.from({ length: PER_WRITER }, (_, i) => [writer, i]), `block ${block} belongs to one writer`);
    }
    assert.equal(new Set(racerRecords.map((r) => r.writer)).size, WRITERS, 'six different writers');
    await assert.rejects(stat(writerLockPath(path)), { code: 'ENOENT' }, 'the last writer removed its lock');
  });
});
