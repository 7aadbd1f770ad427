/**
 * `kubepair config` and the config file as a user meets them, as real processes
 * (src/cli/config-command.ts, setting-resolution.ts): set/get/unset/list/path, precedence
 * flag > KUBEPAIR_RELAY > file seen by the commands that use it, --help naming where a default
 * comes from, the setup mistakes whose message carries the fix (no relay, no scheme, https://
 * to a plain-HTTP relay), and connect --help saying how to give the relay token.
 */
import assert from 'node:assert/strict';
import { chmod, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runKubepair } from '../../helpers/cli.js';
import { privateTempDir } from '../../helpers/relay-process.js';

// Each test runs up to a dozen CLI processes; under a loaded CI machine each may take seconds.

/** The CLI with room for a loaded machine (a process may take seconds to start). */
const kp = (args: readonly string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): ReturnType<typeof runKubepair> => runKubepair(args, { timeoutMs: 90_000, ...options });
const T = { timeout: 240_000 };

describe('kubepair config', { timeout: 900_000 }, () => {
  let home: string;
  let file: string;
  before(async () => {
    home = await privateTempDir('kubepair-config-cli-');
    file = join(home, 'xdg', 'kubepair', 'config.json');
  });
  after(() => rm(home, { recursive: true, force: true }));

  /** A clean environment: the config file under the test's XDG_CONFIG_HOME, no KUBEPAIR_* unless added. */
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, XDG_CONFIG_HOME: join(home, 'xdg'), ...extra });

  it('path, set, get, list, unset: the file is 0600 JSON; a bad value or key is refused with exit 2 and nothing is written', T, async () => {
    const path = await kp(['config', 'path'], { env: env() });
    assert.equal(path.stdout, `${file}\n`);
    const unset = await kp(['config', 'get', 'relay'], { env: env() });
    assert.equal(unset.code, 1);
    assert.equal(unset.stdout, '');
    assert.match(unset.stderr, /relay is not set in .*config\.json \(built-in default: none\)/);

    const bad = await kp(['config', 'set', 'relay', 'relay.example.com'], { env: env() });
    assert.equal(bad.code, 2, bad.stderr);
    assert.equal(bad.stderr, 'kubepair: invalid argument: relay: the relay URL is invalid: "relay.example.com" has no scheme; write https://relay.example.com\n');
    await assert.rejects(stat(file), /ENOENT/, 'nothing written for a refused value');
    const unknown = await kp(['config', 'set', 'token', 'kprt_x'], { env: env() });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^kubepair: unknown config key: "token"; the keys are relay, relay-ca, /);

    const set = await kp(['config', 'set', 'relay', 'https://relay.example.com'], { env: env() });
    assert.equal(set.code, 0, set.stderr);
    assert.equal((await kp(['config', 'set', 'share.policy', 'readonly'], { env: env() })).code, 0);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { relay: 'https://relay.example.com', share: { policy: 'readonly' } });
    const get = await kp(['config', 'get', 'share.policy'], { env: env() });
    assert.equal(get.stdout, 'readonly\n');

    const list = await kp(['config', 'list'], { env: env({ KUBEPAIR_RELAY: 'https://env.example.com' }) });
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^relay: https:\/\/env\.example\.com \(from KUBEPAIR_RELAY\)$/m);
    assert.match(list.stdout, new RegExp(`^share\\.policy: readonly \\(from config file ${file.replaceAll('.', '\\.')}\\)$`, 'm'));
    assert.match(list.stdout, /^share\.mode: proxy \(built-in default\)$/m);

    const removed = await kp(['config', 'unset', 'share.policy'], { env: env() });
    assert.equal(removed.code, 0);
    assert.deepEqual(JSON.parse(await readFile(file, 'utf8')), { relay: 'https://relay.example.com' });
  });

  it('precedence as the commands see it: --relay beats KUBEPAIR_RELAY beats the file', T, async () => {
    assert.equal((await kp(['config', 'set', 'relay', 'https://file.example.com'], { env: env() })).code, 0);
    const fromFile = await kp(['token', 'status'], { env: env() });
    assert.match(fromFile.stdout, /^relay: +https:\/\/file\.example\.com$/m, fromFile.stderr);
    const fromEnv = await kp(['token', 'status'], { env: env({ KUBEPAIR_RELAY: 'https://env.example.com' }) });
    assert.match(fromEnv.stdout, /^relay: +https:\/\/env\.example\.com$/m);
    const fromFlag = await kp(['token', 'status', '--relay', 'https://flag.example.com'], { env: env({ KUBEPAIR_RELAY: 'https://env.example.com' }) });
    assert.match(fromFlag.stdout, /^relay: +https:\/\/flag\.example\.com$/m);
    const help = await kp(['share', '--help'], { env: env() });
    assert.match(help.stdout, new RegExp(`^  relay: https://file\\.example\\.com \\(from config file ${file.replaceAll('.', '\\.')}\\)$`, 'm'));
    const helpEnv = await kp(['connect', '--help'], { env: env({ KUBEPAIR_RELAY: 'https://env.example.com' }) });
    assert.match(helpEnv.stdout, /^ {2}relay: https:\/\/env\.example\.com \(from KUBEPAIR_RELAY\)$/m);
  });

  it('Security: a group-writable config file stops the commands that read it, with the chmod that fixes it', T, async () => {
    assert.equal((await kp(['config', 'set', 'relay', 'https://file.example.com'], { env: env() })).code, 0);
    await chmod(file, 0o664);
    try {
      const result = await kp(['connect', '--no-shell', '1-2345-6789'], { env: env() });
      assert.equal(result.code, 2, result.stderr);
      assert.equal(result.stderr, `kubepair: the kubepair config file may be changed by other users, so kubepair will not read it: ${file} has mode 0664 (writable by group or others); run: chmod 600 ${file}\n`);
      const help = await kp(['connect', '--help'], { env: env() });
      assert.equal(help.code, 0, '--help still works and says what is wrong');
      assert.match(help.stdout, /run: chmod 600 /);
    } finally {
      await chmod(file, 0o600);
    }
  });

  it('a malformed file names the file and the line', T, async () => {
    const other = join(home, 'malformed');
    const path = join(other, 'kubepair', 'config.json');
    await kp(['config', 'set', 'relay', 'https://r.example.com'], { env: env({ XDG_CONFIG_HOME: other }) });
    await writeFile(path, '{\n  "relay": "https://r.example.com",\n  "share": { "policy": "readonly", }\n}\n');
    const result = await kp(['token', 'status'], { env: env({ XDG_CONFIG_HOME: other }) });
    assert.equal(result.code, 2);
    assert.match(result.stderr, new RegExp(`^kubepair: the kubepair config file is invalid: ${path.replaceAll('.', '\\.')}: not valid JSON at line 3, column \\d+;`));
  });
});

describe('setup mistakes: the message carries the fix', { timeout: 600_000 }, () => {
  let home: string;
  before(async () => {
    home = await privateTempDir('kubepair-setup-mistakes-');
  });
  after(() => rm(home, { recursive: true, force: true }));
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: home, ...extra });

  it('no relay configured: connect and share exit 2 naming --relay, KUBEPAIR_RELAY and kubepair config set relay', T, async () => {
    for (const args of [['connect', '--no-shell', '1-2345-6789'], ['share', '--kubeconfig', '/nonexistent'], ['token', 'status']]) {
      const result = await kp(args, { env: env() });
      assert.equal(result.code, 2, `${args[0]}: ${result.stderr}`);
      assert.equal(
        result.stderr,
        'kubepair: no relay configured: give its URL with --relay URL, the KUBEPAIR_RELAY environment variable, or once with "kubepair config set relay URL"\n',
        args.join(' '),
      );
    }
  });

  it('a relay URL without a scheme: exit 2 with the URL to write instead', T, async () => {
    const result = await kp(['connect', '--no-shell', '--relay', 'relay.example.com:8443', '1-2345-6789'], { env: env() });
    assert.equal(result.code, 2, result.stderr);
    assert.equal(result.stderr, 'kubepair: the relay URL is invalid: "relay.example.com:8443" has no scheme; write https://relay.example.com:8443\n');
  });

  it('https:// to a relay that speaks plain HTTP: KP_ERR_RELAY_NOT_TLS (exit 2) with the fix, not OpenSSL\'s "wrong version number" alone', T, async () => {
    const plain = createServer((_req, res) => res.writeHead(404).end());
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    try {
      const port = (plain.address() as AddressInfo).port;
      const result = await kp(['connect', '--no-shell', '--relay', `https://127.0.0.1:${port}`, '1-2345-6789'], { env: env({ KUBEPAIR_TOKEN: `kprt_${'a'.repeat(43)}` }) });
      assert.equal(result.code, 2, result.stderr);
      assert.match(result.stderr, new RegExp(`^kubepair: the relay address answers in plain HTTP, not TLS: 127\\.0\\.0\\.1:${port} answered an https:// connection in plain HTTP`));
      assert.match(result.stderr, /use http:\/\/ for a relay on this machine, else give the relay a certificate \(--tls-cert, --tls-key\)/);
      assert.equal(result.stderr.trim().split('\n').length, 1);
    } finally {
      plain.closeAllConnections();
      await new Promise<void>((resolve) => plain.close(() => resolve()));
    }
  });

  it('connect --help says how to give the relay and the relay token', T, async () => {
    const help = await kp(['connect', '--help'], { env: env() });
    assert.equal(help.code, 0);
    const text = help.stdout.replace(/\s+/g, ' ');
    for (const phrase of ['KUBEPAIR_TOKEN', 'kubepair token set --relay URL', 'never a flag', 'KUBEPAIR_RELAY', 'kubepair config set relay URL', 'kubepair doctor']) {
      assert.ok(text.includes(phrase), `connect --help mentions ${phrase}`);
    }
  });
});
