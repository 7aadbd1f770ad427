/**
 * `kubepair doctor` as a real process (src/cli/doctor-*.ts) against REAL relays on 127.0.0.1:
 * a plain-HTTP relay reached with http:// (all OK) and with https:// (the plain-HTTP answer
 * explained), a TLS relay (untrusted without --relay-ca, trusted with it, and http:// to its TLS
 * port), a server whose Date header is five minutes off, a PATH without kubectl, no relay at all,
 * and a config file that cannot be used. Each non-OK line carries its fix; exit 1 iff a FAIL.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { delimiter, dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runKubepair } from '../../helpers/cli.js';
import type { CliResult } from '../../helpers/cli.js';
import { KUBECTL } from '../../helpers/kubectl.js';
import { RELAY_TLS_CERT as CERT, RELAY_TLS_KEY as KEY } from '../../helpers/relay-tls-fixtures.js';
import { privateTempDir, startRelay } from '../../helpers/relay-process.js';
import type { StartedRelay } from '../../helpers/relay-process.js';

// Each test runs several CLI processes (and some a TLS handshake); a loaded machine makes each take seconds.

/** The CLI with room for a loaded machine (a process may take seconds to start). */
const kp = (args: readonly string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): ReturnType<typeof runKubepair> => runKubepair(args, { timeoutMs: 90_000, ...options });
const T = { timeout: 180_000 };

/** The doctor line for `name`, with its fix line if any. */
function line(result: CliResult, name: string): { status: string; detail: string; fix: string | undefined } {
  const lines = result.stdout.split('\n');
  const index = lines.findIndex((text) => new RegExp(`^(OK|WARN|FAIL) +${name} `).test(text));
  assert.ok(index >= 0, `a "${name}" line in:\n${result.stdout}\n${result.stderr}`);
  const match = /^(OK|WARN|FAIL) +\S+ +(.*)$/.exec(lines[index] as string) as RegExpExecArray;
  const next = lines[index + 1] ?? '';
  const fix = /^ +fix: (.*)$/.exec(next)?.[1];
  return { status: match[1] as string, detail: match[2] as string, fix };
}

describe('kubepair doctor', { timeout: 1_200_000 }, () => {
  let home: string;
  let kubeconfig: string;
  let relay: StartedRelay;
  let tlsRelay: StartedRelay;
  before(async () => {
    home = await privateTempDir('kubepair-doctor-');
    kubeconfig = join(home, 'kubeconfig');
    await writeFile(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters: [{name: prod-cluster, cluster: {server: "https://10.0.0.1:6443"}}]',
        'users: [{name: jane, user: {token: not-a-real-token}}]',
        'contexts: [{name: prod, context: {cluster: prod-cluster, user: jane}}]',
        'current-context: prod',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    relay = await startRelay({ logLevel: 'warn' });
    tlsRelay = await startRelay({ logLevel: 'warn', args: ['--tls-cert', CERT, '--tls-key', KEY] });
  });
  after(async () => {
    await relay?.dispose();
    await tlsRelay?.dispose();
    await rm(home, { recursive: true, force: true });
  });

  /** The tests' kubectl first on PATH (KUBEPAIR_TEST_KUBECTL may name one elsewhere). */
  const path = [...(KUBECTL.includes('/') ? [dirname(KUBECTL)] : []), process.env['PATH'] ?? '/usr/bin:/bin'].join(delimiter);
  /** No D-Bus bus, the test's own HOME and config directory, kubectl on PATH unless PATH is given. */
  const env = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ PATH: path, HOME: home, XDG_CONFIG_HOME: join(home, 'xdg'), ...extra });

  it('a healthy setup: every line OK and exit 0 (relay from KUBEPAIR_RELAY, token from KUBEPAIR_TOKEN)', T, async () => {
    const result = await kp(['doctor', '--kubeconfig', kubeconfig], { env: env({ KUBEPAIR_RELAY: relay.url, KUBEPAIR_TOKEN: relay.tokens.client }) });
    assert.equal(result.code, 0, `${result.stdout}\n${result.stderr}`);
    assert.equal(line(result, 'relay').detail, `${relay.url} (from KUBEPAIR_RELAY)`);
    assert.deepEqual(line(result, 'reachable'), { status: 'OK', detail: '/healthz answered 200 {"status":"ok"}', fix: undefined });
    assert.equal(line(result, 'tls').detail, 'not used: http:// to this machine');
    assert.equal(line(result, 'clock').status, 'OK');
    assert.match(line(result, 'token').detail, /^from KUBEPAIR_TOKEN; accepted by the relay: not checked/);
    assert.deepEqual(line(result, 'keychain'), { status: 'OK', detail: 'not available (not needed: KUBEPAIR_TOKEN is set)', fix: undefined });
    assert.match(line(result, 'kubectl').detail, /^v\d+\.\d+\.\d+\S* \(\/.*kubectl\)$/);
    assert.equal(line(result, 'kubeconfig').detail, `context "prod": cluster "prod-cluster" at https://10.0.0.1:6443 (${kubeconfig})`);
    assert.ok(!result.stdout.includes(relay.tokens.client.slice(5, 15)), 'Security: the token is never printed');
  });

  it('https:// to the plain-HTTP relay: FAIL tls explaining the plain-HTTP answer, exit 1', T, async () => {
    const url = relay.url.replace('http://', 'https://');
    const result = await kp(['doctor', '--relay', url], { env: env() });
    assert.equal(result.code, 1);
    assert.equal(result.stderr, 'kubepair: kubepair doctor found problems (the lines marked FAIL say what to fix)\n');
    const tls = line(result, 'tls');
    assert.equal(tls.status, 'FAIL');
    assert.match(tls.detail, /answered an https:\/\/ connection in plain HTTP .*a relay started without --tls-cert serves plain HTTP/);
    assert.equal(tls.fix, `if the relay runs on this machine without TLS: kubepair config set relay ${relay.url}`);
  });

  it('a TLS relay: FAIL tls (not trusted) without its CA, OK with --relay-ca; http:// to its TLS port is named', T, async () => {
    const untrusted = await kp(['doctor', '--relay', tlsRelay.url], { env: env() });
    assert.equal(untrusted.code, 1);
    const tls = line(untrusted, 'tls');
    assert.equal(tls.status, 'FAIL');
    assert.match(tls.detail, /^the relay's certificate is not trusted: DEPTH_ZERO_SELF_SIGNED_CERT/);
    assert.match(tls.fix ?? '', /--relay-ca FILE or kubepair config set relay-ca/);

    const trusted = await kp(['doctor', '--relay', tlsRelay.url, '--relay-ca', CERT], { env: env({ KUBEPAIR_TOKEN: tlsRelay.tokens.client }) });
    assert.equal(line(trusted, 'reachable').status, 'OK', trusted.stdout);
    assert.match(line(trusted, 'tls').detail, /^certificate of kubepair test relay loopback trusted, valid until 2\d{3}-/);

    const plain = await kp(['doctor', '--relay', tlsRelay.url.replace('https://', 'http://')], { env: env() });
    assert.equal(plain.code, 1);
    assert.deepEqual(line(plain, 'reachable'), { status: 'FAIL', detail: `127.0.0.1:${tlsRelay.port} speaks TLS, and this URL says http://`, fix: `use ${tlsRelay.url}` });
  });

  it('the relay CA from the config file is used, and the relay line says where the URL came from', T, async () => {
    const xdg = join(home, 'xdg-tls');
    const set = async (key: string, value: string): Promise<void> => assert.equal((await kp(['config', 'set', key, value], { env: env({ XDG_CONFIG_HOME: xdg }) })).code, 0);
    await set('relay', tlsRelay.url);
    await set('relay-ca', CERT);
    const result = await kp(['doctor'], { env: env({ XDG_CONFIG_HOME: xdg, KUBEPAIR_TOKEN: tlsRelay.tokens.client }) });
    assert.equal(line(result, 'relay').detail, `${tlsRelay.url} (from config file ${join(xdg, 'kubepair', 'config.json')})`);
    assert.equal(line(result, 'tls').status, 'OK', result.stdout);
  });

  it('a clock five minutes off the relay\'s Date header is a WARN with the fix', T, async () => {
    const skewed = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', date: new Date(Date.now() - 5 * 60_000).toUTCString() }).end('{"status":"ok"}');
    });
    await new Promise<void>((resolve) => skewed.listen(0, '127.0.0.1', resolve));
    try {
      const result = await kp(['doctor', '--relay', `http://127.0.0.1:${(skewed.address() as AddressInfo).port}`], { env: env({ KUBEPAIR_TOKEN: relay.tokens.client }) });
      const clock = line(result, 'clock');
      assert.equal(clock.status, 'WARN');
      assert.match(clock.detail, /^this machine's clock is 30\d s ahead of the relay's$/);
      assert.match(clock.fix ?? '', /timedatectl set-ntp true/);
    } finally {
      skewed.closeAllConnections();
      await new Promise<void>((resolve) => skewed.close(() => resolve()));
    }
  });

  it('a PATH without kubectl: WARN kubectl with the install fix', T, async () => {
    const bin = join(home, 'empty-bin');
    await mkdir(bin, { recursive: true });
    const result = await kp(['doctor', '--relay', relay.url], { env: env({ PATH: bin, KUBEPAIR_TOKEN: relay.tokens.client }) });
    const kubectl = line(result, 'kubectl');
    assert.equal(kubectl.status, 'WARN');
    assert.equal(kubectl.detail, 'not found on PATH');
    assert.match(kubectl.fix ?? '', /^install kubectl \(https:\/\/kubernetes\.io\/docs\/tasks\/tools\/\) and put it on PATH/);
  });

  it('no relay anywhere: FAIL relay naming the three ways to give one; an unusable config file is a FAIL line, not a crash', T, async () => {
    const none = await kp(['doctor'], { env: env() });
    assert.equal(none.code, 1);
    assert.deepEqual(line(none, 'relay'), {
      status: 'FAIL',
      detail: 'no relay configured',
      fix: 'give it with --relay URL, the KUBEPAIR_RELAY environment variable, or once with: kubepair config set relay URL',
    });
    const xdg = join(home, 'xdg-broken');
    const file = join(xdg, 'kubepair', 'config.json');
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, '{"relay": "https://relay.example.com"}');
    await chmod(file, 0o666);
    const broken = await kp(['doctor', '--relay', relay.url], { env: env({ XDG_CONFIG_HOME: xdg }) });
    assert.equal(broken.code, 1);
    const config = line(broken, 'config');
    assert.equal(config.status, 'FAIL');
    assert.match(config.detail, /mode 0666 \(writable by group or others\); run: chmod 600 /);
    assert.equal(line(broken, 'reachable').status, 'OK', 'the other checks still ran');
  });
});
