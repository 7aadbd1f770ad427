/**
 * OpenSSH as a benchmark path (issue 6): the classic alternative, `ssh -N -L` through a bastion,
 * here a private sshd on 127.0.0.1 started by the benchmark from Debian's openssh-server:
 * a high port the OS picked, a throw-away ed25519 host key and client key in a private
 * temporary directory, public-key authentication only (no password, no PAM), local forwarding
 * only, and a known_hosts file with exactly that host key (strict checking, no prompt).
 *
 * When sshd, ssh or ssh-keygen is missing, `findSshTools` says which and why so the benchmark
 * reports the skip instead of failing.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdirSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import { startProcess } from '../../test/helpers/managed-process.js';
import type { ManagedProcess } from '../../test/helpers/managed-process.js';
import type { TargetName, TargetPorts, Tunnel } from './tunnel.js';
import { TARGET_NAMES, freePort, knownPids } from './tunnel.js';

export interface SshTools {
  readonly sshd: string;
  readonly ssh: string;
  readonly sshKeygen: string;
}

/** The AEAD kubepair also uses, so the comparison is cipher for cipher. */
export const SSH_CIPHER_AES_GCM = 'aes256-gcm@openssh.com';
/** OpenSSH's first choice when nothing is configured. */
export const SSH_CIPHER_DEFAULT = 'chacha20-poly1305@openssh.com';

const READY_TIMEOUT_MS = 20_000;
/** Where sshd running as root keeps its privilege-separation chroot (Debian's ssh.service makes it). */
const PRIVSEP_DIR = '/run/sshd';

function findExecutable(name: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter), '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
  for (const dir of dirs) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      return candidate;
    } catch {
      continue; // not in this directory
    }
  }
  return undefined;
}

/** The OpenSSH tools, or why the ssh path cannot run. */
export function findSshTools(): { readonly tools: SshTools } | { readonly missing: string } {
  const sshd = findExecutable('sshd');
  const ssh = findExecutable('ssh');
  const sshKeygen = findExecutable('ssh-keygen');
  const absent = [sshd === undefined && 'sshd (Debian package openssh-server)', ssh === undefined && 'ssh (openssh-client)', sshKeygen === undefined && 'ssh-keygen (openssh-client)'].filter(
    (item): item is string => item !== false,
  );
  if (absent.length > 0) return { missing: `not installed: ${absent.join(', ')}` };
  return { tools: { sshd: sshd!, ssh: ssh!, sshKeygen: sshKeygen! } };
}

function run(command: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      if (stderr.length < 4096) stderr += chunk;
    });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${command} exited ${code}: ${stderr.trim()}`))));
  });
}

export interface SshServer {
  readonly port: number;
  readonly dir: string;
  readonly process: ManagedProcess;
  readonly tools: SshTools;
  close(): Promise<void>;
}

/** Start a private sshd on 127.0.0.1 with throw-away keys; resolves once it listens. */
export async function startSshServer(tools: SshTools): Promise<SshServer> {
  if (process.getuid?.() === 0) {
    // sshd started as root refuses to run without its privilege-separation directory.
    try {
      statSync(PRIVSEP_DIR);
    } catch {
      mkdirSync(PRIVSEP_DIR, { mode: 0o755 });
      process.stderr.write(`bench: created ${PRIVSEP_DIR} (sshd's privilege-separation directory, as Debian's ssh.service does)\n`);
    }
  }
  const dir = await mkdtemp(join(tmpdir(), 'kubepair-bench-ssh-'));
  try {
    await run(tools.sshKeygen, ['-q', '-t', 'ed25519', '-N', '', '-C', 'kubepair-bench-host', '-f', join(dir, 'host_key')]);
    await run(tools.sshKeygen, ['-q', '-t', 'ed25519', '-N', '', '-C', 'kubepair-bench-client', '-f', join(dir, 'client_key')]);
    await writeFile(join(dir, 'authorized_keys'), await readFile(join(dir, 'client_key.pub')), { mode: 0o600 });
    const port = await freePort();
    const config = [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'AuthenticationMethods publickey',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'UsePAM no',
      // The key files live in a mkdtemp directory under /tmp, which StrictModes would reject.
      'StrictModes no',
      'PidFile none',
      'AllowTcpForwarding local',
      'PermitTTY no',
      'X11Forwarding no',
      'AllowAgentForwarding no',
      'PrintMotd no',
      // INFO: sshd prints "Server listening on ..." (the ready signal) and one line per login.
      'LogLevel INFO',
    ].join('\n');
    await writeFile(join(dir, 'sshd_config'), `${config}\n`, { mode: 0o600 });
    const hostKey = (await readFile(join(dir, 'host_key.pub'), 'utf8')).trim();
    await writeFile(join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${hostKey}\n`, { mode: 0o600 });
    // -D: stay in the foreground; -e: log to stderr.
    const sshd = startProcess(tools.sshd, ['-D', '-e', '-f', join(dir, 'sshd_config')], { PATH: process.env['PATH'] ?? '' });
    const server: SshServer = {
      port,
      dir,
      process: sshd,
      tools,
      async close() {
        await sshd.stop('SIGTERM', 3000);
        await rm(dir, { recursive: true, force: true });
      },
    };
    try {
      await sshd.waitFor(/Server listening on 127\.0\.0\.1 port \d+/, READY_TIMEOUT_MS, 'stderr');
    } catch (err) {
      await sshd.stop('SIGTERM', 2000);
      throw err;
    }
    return server;
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Client options for the private sshd: its host key only, the throw-away key only, no prompts. */
export function sshClientArgs(server: SshServer, cipher: string): string[] {
  return [
    '-F', '/dev/null',
    '-i', join(server.dir, 'client_key'),
    '-p', String(server.port),
    '-c', cipher,
    '-o', 'IdentitiesOnly=yes',
    '-o', `UserKnownHostsFile=${join(server.dir, 'known_hosts')}`,
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes',
    '-o', 'Compression=no',
  ];
}

export interface SshTunnel extends Tunnel {
  /** Local port of each extra forward (`extra` option). */
  readonly extraPorts: ReadonlyMap<string, number>;
}

/**
 * `ssh -N -L` for every target (plus `extra` remote ports, e.g. the API server); resolves when
 * every local forward listens. `-v` is only there to see that moment: ssh prints
 * "Local forwarding listening on 127.0.0.1 port N" once authenticated and bound.
 */
export async function startSshTunnel(server: SshServer, targets: TargetPorts, cipher: string, extra: ReadonlyMap<string, number> = new Map()): Promise<SshTunnel> {
  const local = new Map<string, number>();
  const remote = new Map<string, number>([...TARGET_NAMES.map((name): [string, number] => [name, targets[name]]), ...extra]);
  for (const name of remote.keys()) local.set(name, await freePort());
  const forwardArgs = [...remote].flatMap(([name, port]) => ['-L', `127.0.0.1:${local.get(name)}:127.0.0.1:${port}`]);
  const ssh = startProcess(
    server.tools.ssh,
    ['-N', '-v', '-o', 'ExitOnForwardFailure=yes', ...sshClientArgs(server, cipher), ...forwardArgs, `${userInfo().username}@127.0.0.1`],
    { PATH: process.env['PATH'] ?? '', HOME: server.dir },
  );
  try {
    for (const port of local.values()) {
      await ssh.waitFor(new RegExp(`Local forwarding listening on 127\\.0\\.0\\.1 port ${port}\\.`), READY_TIMEOUT_MS, 'stderr');
    }
  } catch (err) {
    await ssh.stop('SIGTERM', 2000);
    throw new Error(`ssh -L did not come up: ${(err as Error).message}\nsshd: ${server.process.stderr().slice(-1000)}`, { cause: err });
  }
  const port = (name: TargetName): number => local.get(name) ?? 0;
  return {
    name: cipher === SSH_CIPHER_AES_GCM ? 'ssh' : `ssh_${cipher.split(/[-@]/)[0]}`,
    label: `OpenSSH ssh -N -L (${cipher})`,
    ports: { source: port('source'), http: port('http'), hello: port('hello') },
    extraPorts: new Map([...extra.keys()].map((name) => [name, local.get(name) ?? 0])),
    // ssh itself plus sshd and the per-connection children it forked for this client.
    rootPids: () => knownPids([ssh.child.pid, server.process.child.pid]),
    close: async () => {
      await ssh.stop('SIGTERM', 3000);
    },
  };
}
