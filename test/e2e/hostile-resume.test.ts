/**
 * End to end (issue 12; docs/design.md §8.1 "Resume proof"; docs/protocol.md §7.6): a hostile
 * relay against real share and connect processes. The relay is played by hostile proxies in front
 * of the real relay (test/helpers/hostile-relay-proxy.ts), which see what a relay sees — every
 * carrier's frames and session keys — and attack with it:
 *
 * - (a) an old generation's socket replayed: the frames the relay sent each endpoint on its
 *   second carrier are recorded and spliced into the third, after a resumption, starting with
 *   the RESUME they carried. Both real ends must abort with KP_ERR_RESUME_STALE;
 * - (b) a resume from a process that does not hold the channel keys: a raw WebSocket with the
 *   client's session key (which the relay learns) takes the client's place and sends a RESUME
 *   with a MAC it cannot compute. The agent must abort with KP_ERR_RESUME_PROOF; connect, whose
 *   socket the relay replaced (4001: a newer socket of its side took over, after which it never
 *   reconnects), ends too.
 *
 * In both: one clear line per side and no stack trace, the kubeconfig removed, the exit codes of
 * docs/exit-codes.md (1: a session lost to a refused resume is a kubepair failure, share --once
 * included), and the agent's audit log records the end of the one session with the code.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { access, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { ERRORS } from '../../src/errors/index.js';
import type { E2EStack } from '../helpers/e2e-stack.js';
import { startE2EStack } from '../helpers/e2e-stack.js';
import type { Carrier } from '../helpers/hostile-relay-proxy.js';
import { startHostileRelayProxy } from '../helpers/hostile-relay-proxy.js';
import { kubectlSandbox, runKubectl } from '../helpers/kubectl.js';
import type { ManagedProcess } from '../helpers/managed-process.js';
import { startRelay } from '../helpers/relay-process.js';
import { waitUntil, within } from '../helpers/wait-until.js';

const T = { timeout: 180_000 };
/** RESUME frames are 91 bytes: version 0x01, type 0x05 (docs/protocol.md §7.3). */
const RESUME_LENGTH = 91;

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** A recorded relay → endpoint frame (unmasked, 2-byte header below 126 bytes) that carries a RESUME. */
function isResumeFrame(frame: Buffer): boolean {
  return frame.length === 2 + RESUME_LENGTH && frame[1] === RESUME_LENGTH && frame[2] === 0x01 && frame[3] === 0x05;
}

/** The frames of `carrier` from its first RESUME on: the old generation's socket as a relay would replay it. */
function fromFirstResume(carrier: Carrier): Buffer[] {
  const first = carrier.binaryFrames.findIndex(isResumeFrame);
  assert.ok(first >= 0, `carrier ${carrier.number} carried a RESUME`);
  return carrier.binaryFrames.slice(first);
}

function count(text: string, pattern: RegExp): number {
  return text.match(new RegExp(pattern.source, 'g'))?.length ?? 0;
}

describe('Security: a hostile relay against resumption, through real processes', { timeout: 600_000 }, () => {
  let stack: E2EStack;
  let home: Awaited<ReturnType<typeof kubectlSandbox>>;
  before(async () => {
    stack = await startE2EStack();
    home = await kubectlSandbox('kubepair-e2e-hostile-resume-');
  });
  after(async () => {
    await stack?.close();
    await home?.remove();
  });

  async function kubectlWorks(kubeconfig: string, when: string): Promise<void> {
    const ok = await runKubectl(['get', 'namespaces', '-o', 'name'], { kubeconfig, home: home.dir });
    assert.equal(ok.code, 0, `${when}: ${ok.stderr}`);
  }

  /** Both real ends after the attack: one line each, kubeconfig gone, exit 1, the agent's audit records the end with `agentCode`. */
  async function assertAborted(share: ManagedProcess, connect: ManagedProcess, kubeconfig: string, auditLog: string, agentCode: keyof typeof ERRORS, connectCode: keyof typeof ERRORS): Promise<void> {
    const connectExit = await connect.exitedWithin(60_000);
    assert.equal(connectExit.code, 1, connect.stderr());
    assert.match(connect.stderr(), new RegExp(ERRORS[connectCode].message.replace(/[()]/g, '\\$&')));
    assert.doesNotMatch(connect.stderr(), /\n\s+at /, 'no stack trace from connect');
    assert.equal(await exists(kubeconfig), false, 'the kubeconfig is removed');

    const shareExit = await share.exitedWithin(60_000);
    assert.equal(shareExit.code, 1, share.stderr());
    const agentMessage = new RegExp(ERRORS[agentCode].message.replace(/[()]/g, '\\$&'));
    assert.match(share.stderr(), new RegExp(`kubepair share: the client disconnected \\(${agentMessage.source}`));
    assert.match(share.stderr(), new RegExp(`^kubepair: ${agentMessage.source}`, 'm'), 'share ends with the error as its last line');
    assert.doesNotMatch(share.stderr(), /\n\s+at /, 'no stack trace from share');

    const records = (await readFile(auditLog, 'utf8'))
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.equal(records.filter((r) => r['event'] === 'session_established').length, 1, 'one session');
    const ended = records.filter((r) => r['event'] === 'session_ended');
    assert.equal(ended.length, 1, 'one end');
    assert.equal(ended[0]!['detail'], agentCode, 'the audit records why it ended');
  }

  it('(a) the relay replays an old generation\'s socket after a resumption: both ends abort with KP_ERR_RESUME_STALE', T, async () => {
    const relay = await startRelay({ logLevel: 'warn' });
    const agentSide = await startHostileRelayProxy(relay.port);
    const clientSide = await startHostileRelayProxy(relay.port);
    const auditLog = join(stack.dir, 'hostile-replay.audit.jsonl');
    const processes: ManagedProcess[] = [];
    try {
      const share = await stack.startShare(['--once', '--resume-window', '2m', '--audit-log', auditLog], { KUBEPAIR_RELAY: agentSide.url, KUBEPAIR_TOKEN: relay.tokens.agent });
      processes.push(share.process);
      const connect = stack.startConnect(['--no-shell', share.code], { KUBEPAIR_RELAY: clientSide.url, KUBEPAIR_TOKEN: relay.tokens.client });
      processes.push(connect);
      const kubeconfig = (await connect.waitFor(/export KUBECONFIG=(\S+)/, 30_000, 'stdout'))[1]!;
      await kubectlWorks(kubeconfig, 'generation 1');

      // Generations 2 and 3 of both carriers: cut, resumed, records flowing.
      const generations: Array<{ agent: Carrier; client: Carrier }> = [];
      for (let generation = 2; generation <= 3; generation++) {
        agentSide.cut();
        clientSide.cut();
        await waitUntil(
          () => count(share.process.stderr(), /resumed after/) >= generation - 1 && count(connect.stderr(), /resumed after/) >= generation - 1,
          60_000,
          `both sides to resume on generation ${generation}`,
        );
        await kubectlWorks(kubeconfig, `generation ${generation}`);
        generations.push({ agent: agentSide.carriers.at(-1)!, client: clientSide.carriers.at(-1)! });
      }
      const [second, third] = generations as [{ agent: Carrier; client: Carrier }, { agent: Carrier; client: Carrier }];

      // The relay splices the second generation's sockets into the third, from their RESUME on, both ways at once.
      agentSide.inject(third.agent, fromFirstResume(second.agent));
      clientSide.inject(third.client, fromFirstResume(second.client));

      await assertAborted(share.process, connect, kubeconfig, auditLog, 'KP_ERR_RESUME_STALE', 'KP_ERR_RESUME_STALE');
    } finally {
      await Promise.all(processes.map((p) => p.stop('SIGKILL')));
      await agentSide.close();
      await clientSide.close();
      await relay.dispose();
    }
  });

  it('(b) a resume from a process without the channel keys (a raw WebSocket with the client\'s session key): the agent aborts with KP_ERR_RESUME_PROOF, connect ends too', T, async () => {
    const relay = await startRelay({ logLevel: 'warn' });
    const clientSide = await startHostileRelayProxy(relay.port);
    const auditLog = join(stack.dir, 'hostile-forged-resume.audit.jsonl');
    const processes: ManagedProcess[] = [];
    let impostor: WebSocket | undefined;
    try {
      const share = await stack.startShare(['--once', '--resume-window', '2m', '--audit-log', auditLog], { KUBEPAIR_RELAY: relay.url, KUBEPAIR_TOKEN: relay.tokens.agent });
      processes.push(share.process);
      const connect = stack.startConnect(['--no-shell', share.code], { KUBEPAIR_RELAY: clientSide.url, KUBEPAIR_TOKEN: relay.tokens.client });
      processes.push(connect);
      const kubeconfig = (await connect.waitFor(/export KUBECONFIG=(\S+)/, 30_000, 'stdout'))[1]!;
      await kubectlWorks(kubeconfig, 'before the attack');

      // What the relay learned: the client's socket path (session id) and session key.
      const stolen = clientSide.carriers.find((carrier) => carrier.path?.startsWith('/ws/') === true)!;
      assert.match(stolen.path ?? '', /^\/ws\/v1\/client\/[A-Za-z0-9_-]+$/);
      assert.ok(stolen.key !== undefined, 'the relay sees the client key');
      const sessionId = Buffer.from(stolen.path!.split('/').at(-1)!, 'base64url');
      assert.equal(sessionId.length, 16);

      // A process with the session key but no channel keys resumes as the client.
      impostor = new WebSocket(`ws://127.0.0.1:${relay.port}${stolen.path!}`, ['kubepair.v1'], { headers: { authorization: `Bearer ${stolen.key}` } });
      const socket = impostor;
      const peerResumed = new Promise<void>((resolve) => socket.on('message', (data, isBinary) => {
        if (!isBinary && /"peer_resumed"/.test((data as Buffer).toString('utf8'))) resolve();
      }));
      socket.on('error', () => undefined);
      await within(10_000, 'the impostor socket to open', new Promise<void>((resolve, reject) => {
        socket.once('open', () => resolve());
        socket.once('unexpected-response', (_req, res) => reject(new Error(`the relay refused the impostor: ${res.statusCode}`)));
      }));
      await within(10_000, 'peer_resumed for the impostor', peerResumed);
      // RESUME (docs/protocol.md §7.3): every field as an endpoint would send it, the MAC guessed.
      const forged = Buffer.alloc(RESUME_LENGTH);
      forged[0] = 0x01;
      forged[1] = 0x05;
      sessionId.copy(forged, 2);
      forged[18] = 0x02; // client
      forged.writeBigUInt64BE(1n, 19); // generation 1
      randomBytes(32).copy(forged, 59); // no resume key: the MAC is a guess
      socket.send(forged, { binary: true });

      await assertAborted(share.process, connect, kubeconfig, auditLog, 'KP_ERR_RESUME_PROOF', 'KP_ERR_RELAY_SOCKET_REPLACED');
    } finally {
      impostor?.terminate();
      await Promise.all(processes.map((p) => p.stop('SIGKILL')));
      await clientSide.close();
      await relay.dispose();
    }
  });
});
