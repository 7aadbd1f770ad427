/**
 * Every upgrade end to end through the agent's new upgrade path (issue 10): real relay,
 * `kubepair share --policy open` and `kubepair connect --no-shell` processes, the fixture API
 * server, and the real kubectl on connect's kubeconfig — `exec -it` and `attach -it` under a
 * pseudo-terminal, `attach -i` on pipes, and `port-forward` in both of kubectl's forms (the
 * KEP-4006 WebSocket tunnel and SPDY/3.1) with bytes checked both ways. The fixture's request
 * log shows each upgrade arrived over its own HTTP/1.1 connection with the agent's identity.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import type { KubectlOptions } from '../helpers/kubectl.js';
import { kubectlSandbox, runKubectl, startKubectl, startKubectlInTerminal } from '../helpers/kubectl.js';
import { waitUntil } from '../helpers/wait-until.js';
import { exchangeTcp } from '../helpers/tcp.js';

const WAIT_MS = 20_000;
const TEST_TIMEOUT_MS = 60_000;
const ECHO_BYTES = 512 * 1024;

const OBJECTS = [
  { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'web-0', namespace: 'default' }, spec: { containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 80 }] }] } },
  { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'shell-0', namespace: 'default' }, spec: { containers: [{ name: 'shell', image: 'busybox', stdin: true, tty: true }] } },
  { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'reader-0', namespace: 'default' }, spec: { containers: [{ name: 'reader', image: 'busybox', stdin: true, stdinOnce: true }] } },
];

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** kubectl's two port-forward forms: the KEP-4006 WebSocket tunnel (a GET) and plain SPDY/3.1 (a POST). */
const FORMS: ReadonlyArray<{ readonly name: string; readonly env: Readonly<Record<string, string>>; readonly method: string }> = [
  { name: 'kubectl\'s default (WebSocket port-forward)', env: {}, method: 'GET' },
  { name: 'SPDY/3.1 port-forward (KUBECTL_PORT_FORWARD_WEBSOCKETS=false)', env: { KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' }, method: 'POST' },
];

for (const form of FORMS) {
  describe(`e2e: exec, attach and port-forward through the tunnel, ${form.name}`, { timeout: 6 * TEST_TIMEOUT_MS }, () => {
    let stack: E2EStack;
    let kubectl: KubectlOptions;
    let sandbox: Awaited<ReturnType<typeof kubectlSandbox>>;
    before(async () => {
      stack = await startE2EStack({ api: { objects: OBJECTS, portForward: { 'default/web-0': { 80: 'echo' } } } });
      const { code } = await stack.startShare(['--policy', 'open']);
      const connectProcess = stack.startConnect(['--no-shell', code]);
      const exported = await connectProcess.waitFor(/export KUBECONFIG=(\S+)/, 30_000, 'stdout');
      sandbox = await kubectlSandbox('kubepair-e2e-upgrades-');
      const kubeconfig = await sandbox.writeKubeconfig('tunnel.kubeconfig', await readFile(exported[1]!, 'utf8'));
      kubectl = { kubeconfig, home: sandbox.dir, env: form.env };
    });
    after(async () => {
      await stack.close();
      await sandbox.remove();
    });

    it('exec -it on a pty: typed keys come back through cat, Ctrl-D ends it with exit 0', { timeout: TEST_TIMEOUT_MS }, async () => {
      const terminal = startKubectlInTerminal(['exec', '-it', 'web-0', '--', 'cat'], kubectl);
      try {
        await waitUntil(() => stack.api.openStreams().execs === 1, WAIT_MS, 'the exec session to open');
        terminal.type('typed through the tunnel');
        await terminal.waitForOutput((shown) => shown.includes('typed through the tunnel'), WAIT_MS);
        terminal.type('\x04');
        assert.equal(await terminal.waitForExit(WAIT_MS), 0, terminal.output());
      } finally {
        await terminal.stop();
      }
      const exec = stack.api.requests().filter((r) => r.subresource === 'exec').at(-1);
      assert.deepEqual([exec?.status, exec?.protocol, exec?.user], [101, 'http/1.1', 'fixture-admin']);
      assert.match(exec?.query ?? '', /tty=true/);
    });

    it('attach -it on a pty: a line is answered, Ctrl-D ends the session', { timeout: TEST_TIMEOUT_MS }, async () => {
      const terminal = startKubectlInTerminal(['attach', '-it', 'shell-0'], kubectl);
      try {
        await terminal.waitForOutput((shown) => shown.includes('attached to shell-0/shell\r\n'), WAIT_MS);
        terminal.type('over the relay\r');
        await terminal.waitForOutput((shown) => shown.includes('echo: over the relay\r\n'), WAIT_MS);
        terminal.type('\x04');
        assert.equal(await terminal.waitForExit(WAIT_MS), 0, terminal.output());
      } finally {
        await terminal.stop();
      }
      const attach = stack.api.requests().filter((r) => r.subresource === 'attach').at(-1);
      assert.deepEqual([attach?.status, attach?.protocol], [101, 'http/1.1']);
    });

    it('attach -i on pipes: every stdin line comes back', { timeout: TEST_TIMEOUT_MS }, async () => {
      const result = await runKubectl(['attach', '-i', 'reader-0'], { ...kubectl, stdin: 'first\nsecond\n', timeoutMs: WAIT_MS });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, 'attached to reader-0/reader\necho: first\necho: second\n');
    });

    it('port-forward: 512 KiB echoed in order, twice at once, through the upgraded stream', { timeout: TEST_TIMEOUT_MS }, async () => {
      const forward = startKubectl(['port-forward', '--address', '127.0.0.1', 'pod/web-0', ':80'], kubectl);
      try {
        const lines = await forward.waitFor((seen) => seen.some((line) => /^Forwarding from 127\.0\.0\.1:\d+ -> 80$/.test(line.trim())), WAIT_MS);
        const port = Number(/127\.0\.0\.1:(\d+)/.exec(lines.find((line) => line.includes('Forwarding from'))!)![1]);
        const payloads = [randomBytes(ECHO_BYTES), randomBytes(ECHO_BYTES)];
        const echoed = await Promise.all(payloads.map((payload) => exchangeTcp(port, payload, WAIT_MS)));
        echoed.forEach((got, i) => assert.equal(sha256(got), sha256(payloads[i]!), `connection ${i}: every byte back, in order`));
      } finally {
        await forward.stop();
      }
      const upgrades = stack.api.requests().filter((r) => r.subresource === 'portforward' && r.status === 101);
      assert.ok(upgrades.length >= 1, 'the port-forward upgrade reached the API server');
      assert.deepEqual([upgrades.at(-1)?.method, upgrades.at(-1)?.protocol, upgrades.at(-1)?.user], [form.method, 'http/1.1', 'fixture-admin']);
    });
  });
}
