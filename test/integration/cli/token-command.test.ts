/**
 * `kubepair token set|delete|status` as real processes (docs/design.md §7): without any keychain
 * (no D-Bus session bus, as in CI), and with a REAL Secret Service — gnome-keyring activated on a
 * private D-Bus session bus the test starts (test/helpers/secret-service.ts).
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runKubepair } from '../../helpers/cli.js';
import type { CliResult } from '../../helpers/cli.js';
import { privateTempDir } from '../../helpers/relay-process.js';
import { startSecretService } from '../../helpers/secret-service.js';
import type { SecretService } from '../../helpers/secret-service.js';

const T = { timeout: 60_000 };
const TOKEN = `kprt_${'k8sPairTestToken0123456789abcdefghij_-XYZ'.padEnd(43, 'q')}`;
const OTHER_TOKEN = `kprt_${'another-token'.padEnd(43, 'w')}`;
const RELAY = 'https://relay.example.com';

/** Every file under `dir` whose bytes contain `needle`. */
async function filesContaining(dir: string, needle: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    if ((await readFile(path)).includes(needle)) found.push(path);
  }
  return found;
}

function assertNoToken(result: CliResult, ...tokens: string[]): void {
  for (const token of tokens) {
    assert.ok(!result.stdout.includes(token) && !result.stderr.includes(token), 'the token is never printed');
    assert.ok(!result.stdout.includes(token.slice(5, 15)) && !result.stderr.includes(token.slice(5, 15)), 'not even a part of it');
  }
}

describe('kubepair token', { timeout: 300_000 }, () => {
  let home: string;
  before(async () => {
    home = await privateTempDir('kubepair-token-cli-');
  });
  after(() => rm(home, { recursive: true, force: true }));

  /** A minimal environment: no D-Bus session bus unless `bus` is given, no KUBEPAIR_* unless added. */
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, ...extra });

  describe('without a keychain (no Secret Service: CI, servers, containers)', () => {
    it('set fails with exit 1 and a message pointing at KUBEPAIR_TOKEN; nothing is written anywhere', T, async () => {
      const result = await runKubepair(['token', 'set', '--relay', RELAY], { env: env(), input: `${TOKEN}\n` });
      assert.equal(result.code, 1, result.stderr);
      assert.equal(
        result.stderr,
        'kubepair: no OS keychain is available (on Linux: a Secret Service such as gnome-keyring or KWallet on the D-Bus session bus); put the relay token in the KUBEPAIR_TOKEN environment variable instead\n',
      );
      assertNoToken(result, TOKEN);
      assert.deepEqual(await filesContaining(home, TOKEN), [], 'Security: never a plain file');
    });

    it('status says the keychain is not available and where share/connect would get a token from', T, async () => {
      const none = await runKubepair(['token', 'status', '--relay', RELAY], { env: env() });
      assert.equal(none.code, 0, none.stderr);
      assert.match(none.stdout, /^relay: +https:\/\/relay\.example\.com$/m);
      assert.match(none.stdout, /^keychain: +not available on this machine \(Platform failure: DBus error: .+\)$/m);
      assert.match(none.stdout, /^KUBEPAIR_TOKEN: not set$/m);
      assert.match(none.stdout, /^share\/connect: +use no token \(a relay that requires one answers 401\)$/m);
      const fromEnv = await runKubepair(['token', 'status'], { env: env({ KUBEPAIR_TOKEN: TOKEN, KUBEPAIR_RELAY: `${RELAY}:8443/kp` }) });
      assert.equal(fromEnv.code, 0, fromEnv.stderr);
      assert.match(fromEnv.stdout, /^relay: +https:\/\/relay\.example\.com:8443$/m);
      assert.match(fromEnv.stdout, /^KUBEPAIR_TOKEN: set$/m);
      assert.match(fromEnv.stdout, /^share\/connect: +use KUBEPAIR_TOKEN \(it takes precedence over the keychain\)$/m);
      assertNoToken(fromEnv, TOKEN);
      const malformed = await runKubepair(['token', 'status', '--relay', RELAY], { env: env({ KUBEPAIR_TOKEN: 'hunter2' }) });
      assert.match(malformed.stdout, /^KUBEPAIR_TOKEN: set, but not a relay token$/m);
      assert.ok(!malformed.stdout.includes('hunter2'));
    });

    it('delete fails with exit 1; a bad relay URL is exit 2 before any keychain is asked', T, async () => {
      const deleted = await runKubepair(['token', 'delete', '--relay', RELAY], { env: env() });
      assert.equal(deleted.code, 1);
      assert.match(deleted.stderr, /no OS keychain is available/);
      for (const url of ['relay.example.com', 'https://user:pw@relay.example.com', 'ftp://relay.example.com']) {
        const bad = await runKubepair(['token', 'set', '--relay', url], { env: env(), input: TOKEN });
        assert.equal(bad.code, 2, url);
        assert.match(bad.stderr, /^kubepair: the relay URL is invalid/, url);
      }
    });

    it('--help explains the commands, the order share/connect use, and the fallback', T, async () => {
      const help = await runKubepair(['token', '--help'], { env: env() });
      assert.equal(help.code, 0);
      for (const text of ['set [options]', 'delete [options]', 'status [options]', 'KUBEPAIR_TOKEN when it is set, else the keychain', 'never written to a file']) {
        assert.ok(help.stdout.includes(text), `help mentions ${text}`);
      }
      const setHelp = await runKubepair(['token', 'set', '--help'], { env: env() });
      assert.match(setHelp.stdout, /--relay <url>/);
    });
  });

  describe('with a real Secret Service (gnome-keyring on a private D-Bus session bus)', () => {
    let secrets: SecretService;
    before(async () => {
      secrets = await startSecretService();
    });
    after(() => secrets.stop());
    const busEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => env({ DBUS_SESSION_BUS_ADDRESS: secrets.address, ...extra });

    it('set stores, status reports it without printing it, delete removes it', T, async () => {
      const set = await runKubepair(['token', 'set', '--relay', RELAY], { env: busEnv(), input: `${TOKEN}\n` });
      assert.equal(set.code, 0, set.stderr);
      assert.equal(set.stdout, 'Stored the relay token for https://relay.example.com in the OS keychain (Secret Service).\n');
      assertNoToken(set, TOKEN);

      const status = await runKubepair(['token', 'status', '--relay', `${RELAY}/`], { env: busEnv() });
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /^keychain: +a token is stored \(service "kubepair", account "https:\/\/relay\.example\.com"\)$/m);
      assert.match(status.stdout, /^share\/connect: +use the token in the OS keychain \(Secret Service\)$/m);
      assertNoToken(status, TOKEN);

      const otherOrigin = await runKubepair(['token', 'status', '--relay', `${RELAY}:8443`], { env: busEnv() });
      assert.match(otherOrigin.stdout, /^keychain: +no token stored$/m);

      // The same origin written another way replaces the token.
      const replaced = await runKubepair(['token', 'set', '--relay', 'wss://Relay.Example.com:443/kp'], { env: busEnv({ KUBEPAIR_TOKEN: OTHER_TOKEN }), input: TOKEN });
      assert.equal(replaced.code, 0, replaced.stderr);
      assert.equal(
        replaced.stdout,
        'Replaced the relay token for https://relay.example.com in the OS keychain (Secret Service).\nNote: KUBEPAIR_TOKEN is set here, and share and connect use it instead of the keychain.\n',
      );

      const deleted = await runKubepair(['token', 'delete', '--relay', RELAY], { env: busEnv() });
      assert.equal(deleted.code, 0, deleted.stderr);
      assert.equal(deleted.stdout, 'Deleted the relay token for https://relay.example.com from the OS keychain (Secret Service).\n');
      const again = await runKubepair(['token', 'delete', '--relay', RELAY], { env: busEnv() });
      assert.equal(again.stdout, 'No relay token was stored for https://relay.example.com in the OS keychain (Secret Service).\n');
      const gone = await runKubepair(['token', 'status', '--relay', RELAY], { env: busEnv() });
      assert.match(gone.stdout, /^keychain: +no token stored$/m);
    });

    it('Security: set refuses what is not a relay token (exit 2) without repeating it, and keeps the stored one', T, async () => {
      assert.equal((await runKubepair(['token', 'set', '--relay', RELAY], { env: busEnv(), input: TOKEN })).code, 0);
      for (const input of ['hunter2-not-a-token\n', `${TOKEN}x`, '', `Bearer ${OTHER_TOKEN}`]) {
        const bad = await runKubepair(['token', 'set', '--relay', RELAY], { env: busEnv(), input });
        assert.equal(bad.code, 2, JSON.stringify(input));
        assert.match(bad.stderr, /^kubepair: invalid argument: (the input is not a relay token \(expected kprt_ and 43 base64url characters|no token given)/);
        assert.ok(!bad.stderr.includes('hunter2') && !bad.stderr.includes(OTHER_TOKEN));
      }
      const status = await runKubepair(['token', 'status', '--relay', RELAY], { env: busEnv() });
      assert.match(status.stdout, /a token is stored/);
      assert.equal((await runKubepair(['token', 'delete', '--relay', RELAY], { env: busEnv() })).code, 0);
    });

    it('Security: the token is in no plain file, neither in HOME nor in the keyring\'s files (gnome-keyring encrypts them)', T, async () => {
      const cliHome = join(home, 'plain-file-check');
      await mkdir(cliHome, { recursive: true });
      const set = await runKubepair(['token', 'set', '--relay', RELAY], { env: busEnv({ HOME: cliHome }), input: TOKEN });
      assert.equal(set.code, 0, set.stderr);
      assert.deepEqual(await filesContaining(home, TOKEN), []);
      const keyringFiles = await readdir(join(secrets.dir, 'home'), { recursive: true });
      assert.ok(keyringFiles.some((name) => name.endsWith('.keyring')), `the keyring was written: ${keyringFiles.join(', ')}`);
      assert.deepEqual(await filesContaining(secrets.dir, TOKEN), []);
      assert.equal((await runKubepair(['token', 'delete', '--relay', RELAY], { env: busEnv() })).code, 0);
    });
  });
});
