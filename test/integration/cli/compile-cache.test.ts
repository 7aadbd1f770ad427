/**
 * V8's compile cache of the `kubepair` binary (src/cli/compile-cache.ts; issue 15): where it
 * goes, that the real binary fills it, that it never fails start-up, that a directory
 * someone else could write (a way to change the code kubepair runs) is never used, and that
 * connect's entry is cached compiled whole (src/cli/eager-compile.ts).
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { compileCacheDirectory } from '../../../src/cli/compile-cache.js';
import { VERSION } from '../../../src/version.js';
import { runKubepair } from '../../helpers/cli.js';
import { privateTempDir } from '../../helpers/relay-process.js';

/** Every file under `dir` (recursively), or [] when it does not exist. */
async function filesIn(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { withFileTypes: true, recursive: true })).filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** `kubepair --version` with only this HOME and XDG_CACHE_HOME (when given): it must answer as always. */
async function versionWith(home: string, xdgCacheHome?: string): Promise<void> {
  const env: NodeJS.ProcessEnv = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, ...(xdgCacheHome !== undefined && { XDG_CACHE_HOME: xdgCacheHome }) };
  const result = await runKubepair(['--version'], { env });
  assert.deepEqual([result.code, result.stdout, result.stderr], [0, `${VERSION}\n`, ''], `kubepair --version with HOME=${home} XDG_CACHE_HOME=${xdgCacheHome ?? '(unset)'}`);
}

describe('kubepair compile cache', () => {
  let dir: string;
  before(async () => {
    dir = await privateTempDir('kubepair-compile-cache-');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('lives in $XDG_CACHE_HOME/kubepair/compile-cache, or ~/.cache/... when XDG_CACHE_HOME is unset, empty or relative', () => {
    const cases: Array<[NodeJS.ProcessEnv, string]> = [
      [{ XDG_CACHE_HOME: '/var/cache/alice' }, '/var/cache/alice/kubepair/compile-cache'],
      [{}, '/home/alice/.cache/kubepair/compile-cache'],
      [{ XDG_CACHE_HOME: '' }, '/home/alice/.cache/kubepair/compile-cache'],
      [{ XDG_CACHE_HOME: 'relative/cache' }, '/home/alice/.cache/kubepair/compile-cache'],
    ];
    for (const [env, expected] of cases) assert.equal(compileCacheDirectory(env, '/home/alice'), expected, JSON.stringify(env));
  });

  it('the binary fills ~/.cache/kubepair/compile-cache (a private directory, mode 0700) and the next run still answers', async () => {
    const home = join(dir, 'home');
    await mkdir(home);
    await versionWith(home);
    const cache = join(home, '.cache', 'kubepair', 'compile-cache');
    assert.equal((await stat(cache)).mode & 0o777, 0o700);
    assert.ok((await filesIn(cache)).length > 0, `Node.js ${process.version} wrote its compile cache into ${cache}`);
    await versionWith(home);
  });

  it('a cache that cannot be written never fails start-up: XDG_CACHE_HOME under a regular file, and a read-only cache home', async () => {
    const home = join(dir, 'home-unwritable');
    await mkdir(home);
    const file = join(dir, 'a-file');
    await writeFile(file, 'not a directory');
    await versionWith(home, join(file, 'cache'));
    const readOnly = join(dir, 'read-only-cache');
    await mkdir(readOnly, { mode: 0o500 });
    await versionWith(home, readOnly);
    if (process.getuid?.() !== 0) assert.deepEqual(await filesIn(readOnly), []); // root writes through mode bits
  });

  it("connect's entry modules are cached compiled whole: each module's entry is larger than when run-cli loads it lazily", async () => {
    /** Each cache entry's size by its name (Node.js names an entry after the module's file), after `kubepair ARGS` in a fresh home. */
    const cachedBy = async (name: string, args: string[]): Promise<Map<string, number>> => {
      const home = join(dir, name);
      await mkdir(home);
      const result = await runKubepair(args, { env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home } });
      assert.notEqual(result.stdout + result.stderr, '', `kubepair ${args.join(' ')} says something`);
      const sizes = new Map<string, number>();
      for (const file of await filesIn(join(home, '.cache', 'kubepair', 'compile-cache'))) sizes.set(basename(file), (await stat(file)).size);
      return sizes;
    };
    // The same modules (commander, zod, program.ts, connect-command.ts, ...): loaded by connect's
    // entry (cli-entry.ts: connect-cli) for an unknown option, by run-cli lazily for connect --help.
    const eager = await cachedBy('home-eager', ['connect', '--no-such-option']);
    const lazy = await cachedBy('home-lazy', ['connect', '--help']);
    const both = [...eager.keys()].filter((name) => lazy.has(name));
    assert.ok(both.length >= 5, `modules cached by both runs: ${both.length}`);
    const total = (sizes: Map<string, number>): number => both.reduce((sum, name) => sum + sizes.get(name)!, 0);
    for (const name of both) assert.ok(eager.get(name)! >= lazy.get(name)!, `${name}: ${eager.get(name)} bytes eager, ${lazy.get(name)} lazy`);
    assert.ok(total(eager) > 1.5 * total(lazy), `${total(eager)} bytes cached for connect's entry, ${total(lazy)} for the same modules loaded lazily`);
  });

  describe('Security: a compile cache others could write (and so change the code kubepair runs) is not used', () => {
    it('a group- or world-writable cache directory, or a symbolic link in its place, gets no cache and start-up goes on', async () => {
      const home = join(dir, 'home-hostile');
      await mkdir(home);
      const writable = join(dir, 'writable');
      await mkdir(join(writable, 'kubepair', 'compile-cache'), { recursive: true });
      await chmod(join(writable, 'kubepair', 'compile-cache'), 0o777);
      await versionWith(home, writable);
      assert.deepEqual(await filesIn(join(writable, 'kubepair', 'compile-cache')), [], 'nothing cached in a world-writable directory');

      const linked = join(dir, 'linked');
      const elsewhere = join(dir, 'elsewhere');
      await mkdir(elsewhere, { mode: 0o700 });
      await mkdir(join(linked, 'kubepair'), { recursive: true });
      await symlink(elsewhere, join(linked, 'kubepair', 'compile-cache'), 'dir');
      await versionWith(home, linked);
      assert.deepEqual(await filesIn(elsewhere), [], 'nothing cached through a symbolic link');
    });
  });
});
