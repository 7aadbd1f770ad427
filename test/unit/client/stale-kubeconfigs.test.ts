/**
 * Kubeconfigs left by dead connect processes (src/client/stale-kubeconfigs.ts,
 * src/process/process-identity.ts): only kubepair's own files whose owner is certainly gone are
 * removed; live owners, reused pids, symlinks and foreign names are told apart.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { kubeconfigFileName, kubeconfigOwner } from '../../../src/client/kubeconfig.js';
import { removeStaleKubeconfigs } from '../../../src/client/stale-kubeconfigs.js';
import type { ProcessIdentity } from '../../../src/process/process-identity.js';
import { currentProcessIdentity, ownerState, processStartTime } from '../../../src/process/process-identity.js';

/** A process that ran and is gone: its pid is free (reuse within the test is not expected). */
async function deadProcess(): Promise<ProcessIdentity> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  const pid = child.pid!;
  await new Promise((resolve) => child.once('exit', resolve));
  return { pid, startTime: '12345', boot: currentProcessIdentity().boot };
}

describe('Security: kubeconfigs of dead connect processes', () => {
  let dir: string;
  let sleeper: ReturnType<typeof spawn>;
  let live: ProcessIdentity;
  const self = currentProcessIdentity();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kubepair-stale-'));
    sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    await new Promise((resolve) => sleeper.once('spawn', resolve));
    const start = processStartTime(sleeper.pid!);
    assert.ok(start !== undefined, 'this test runs where /proc gives start times (Linux)');
    live = { pid: sleeper.pid!, startTime: start, boot: self.boot };
  });

  after(async () => {
    sleeper.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  it('the file name records the owner, and only kubepair\'s own names parse', () => {
    const name = kubeconfigFileName('prod.eu-1', live, '0123456789abcdef');
    assert.equal(name, `kubepair-prod.eu-1-0123456789abcdef.${live.pid}.${live.startTime}.${live.boot}.kubeconfig`);
    assert.deepEqual(kubeconfigOwner(name), live);
    for (const foreign of [
      'kubepair-prod-0123456789abcdef.kubeconfig', // an older kubepair: no owner recorded
      'config.kubeconfig',
      `kubepair-prod-0123456789abcdef.${live.pid}.${live.startTime}.${live.boot}.kubeconfig.bak`,
      `kubepair-prod-0123456789ABCDEF.${live.pid}.${live.startTime}.${live.boot}.kubeconfig`,
      `kubepair-prod-0123456789abcdef.0.1.${live.boot}.kubeconfig`, // pid 0 would mean a process group
      `kubepair-pr/od-0123456789abcdef.${live.pid}.1.${live.boot}.kubeconfig`,
      `kubepair--0123456789abcdef.${live.pid}.1.${live.boot}.kubeconfig`,
    ]) {
      assert.equal(kubeconfigOwner(foreign), undefined, foreign);
    }
  });

  it('ownerState: alive for a live process, gone for a dead pid, a reused pid or another boot; never signals pid 0 or -1', async () => {
    const dead = await deadProcess();
    assert.equal(ownerState(self), 'alive');
    assert.equal(ownerState(live), 'alive');
    assert.equal(ownerState(dead), 'gone');
    assert.equal(ownerState({ ...live, startTime: String(Number(live.startTime) + 1) }), 'gone', 'a reused pid');
    if (self.boot !== '00000000') assert.equal(ownerState({ ...live, boot: self.boot === 'ffffffff' ? 'eeeeeeee' : 'ffffffff' }), 'gone', 'another boot');
    assert.equal(ownerState({ ...live, startTime: '0' }), 'alive', 'unknown start time: a live pid is the owner');
    for (const pid of [0, -1, 2 ** 40]) assert.equal(ownerState({ pid, startTime: '1', boot: self.boot }), 'alive', `pid ${pid}`);
  });

  it('removes only regular kubepair kubeconfigs whose owner is gone; never follows or removes a symlink', async () => {
    const dead = await deadProcess();
    const file = (owner: ProcessIdentity, random: string): string => kubeconfigFileName('c', owner, random);
    const names = {
      dead: file(dead, 'a'.repeat(16)),
      reused: file({ ...live, startTime: String(Number(live.startTime) + 7) }, 'b'.repeat(16)),
      live: file(live, 'c'.repeat(16)),
      self: file(self, 'd'.repeat(16)),
      symlink: file(dead, 'e'.repeat(16)),
      directory: file(dead, 'f'.repeat(16)),
      old: 'kubepair-c-0123456789abcdef.kubeconfig',
      other: 'notes.txt',
    };
    for (const name of [names.dead, names.reused, names.live, names.self, names.old, names.other]) await writeFile(join(dir, name), 'x', { mode: 0o600 });
    const victim = join(dir, 'victim');
    await writeFile(victim, 'precious');
    await symlink(victim, join(dir, names.symlink));
    await mkdir(join(dir, names.directory));

    const removed = await removeStaleKubeconfigs(dir, { self });
    assert.deepEqual(removed.sort(), [names.dead, names.reused].sort());
    const left = await readdir(dir);
    for (const name of [names.dead, names.reused]) assert.ok(!left.includes(name), `${name} is gone from the directory, not only reported`);
    for (const name of [names.live, names.self, names.old, names.other, names.symlink, names.directory, 'victim']) assert.ok(left.includes(name), `${name} is kept`);
    assert.ok((await lstat(join(dir, names.symlink))).isSymbolicLink());
    assert.equal(await readFile(victim, 'utf8'), 'precious');
  });

  it('examines a bounded number of entries', async () => {
    const bounded = await mkdtemp(join(tmpdir(), 'kubepair-stale-bound-'));
    try {
      const dead = await deadProcess();
      for (let i = 0; i < 30; i++) await writeFile(join(bounded, kubeconfigFileName('c', dead, i.toString(16).padStart(16, '0'))), 'x');
      const removed = await removeStaleKubeconfigs(bounded, { self, maxEntries: 10 });
      assert.equal(removed.length, 10);
      assert.equal((await readdir(bounded)).length, 20);
    } finally {
      await rm(bounded, { recursive: true, force: true });
    }
  });

  it('a missing directory is not an error', async () => {
    assert.deepEqual(await removeStaleKubeconfigs(join(dir, 'no-such-dir')), []);
  });
});
