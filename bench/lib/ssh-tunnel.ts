/**
 * OpenSSH as a benchmark path (issue 6): the classic alternative, `ssh -N -L` to a private sshd
 * on 127.0.0.1 started by the benchmark from Debian's openssh-server: a high port the OS picked,
 * a throw-away ed25519 host key and client key in a private temporary directory, public-key
 * authentication only (no password, no PAM), local forwarding only, and a known_hosts file with
 * exactly that host key (strict checking, no prompt).
 *
 * The bastion topology (issue 15), the fair comparison for a relay: `ssh -J` through a second
 * sshd of the same kind (same throw-away keys, same cipher) to the first, so the laptop's ssh
 * holds two encrypted hops and the bastion's sshd relays the inner hop's ciphertext. `ssh -J`
 * passes `-F` (not `-i` or `-o`) on to the ssh it starts for the bastion hop, so both hops read
 * their options from one client config file written next to the bastion's keys.
 *
 * When sshd, ssh or ssh-keygen is missing, `findSshTools` says which and why so the benchmark
 * reports the skip instead of failing.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants, mkdirSync, statSync } from 'node:fs';
import { chmod, copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { delimiter, join } from 'node:path';
import { startProcess } from '../../test/helpers/managed-process.js';
import type { ManagedProcess } from '../../test/helpers/managed-process.js';
import type { PathSide, TargetName, TargetPorts, Tunnel } from './tunnel.js';
import { TARGET_NAMES, freePort } from './tunnel.js';

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

/** The throw-away key pairs every sshd of one run shares (host key and client key). */
const KEY_FILES = ['host_key', 'host_key.pub', 'client_key', 'client_key.pub'];

/**
 * Start a private sshd on 127.0.0.1 with throw-away keys, or with those of `keysOf` (the
 * bastion of the `ssh -J` path); resolves once it listens.
 */
export async function startSshServer(tools: SshTools, keysOf?: SshServer): Promise<SshServer> {
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
    if (keysOf === undefined) {
      await run(tools.sshKeygen, ['-q', '-t', 'ed25519', '-N', '', '-C', 'kubepair-bench-host', '-f', join(dir, 'host_key')]);
      await run(tools.sshKeygen, ['-q', '-t', 'ed25519', '-N', '', '-C', 'kubepair-bench-client', '-f', join(dir, 'client_key')]);
    } else {
      for (const file of KEY_FILES) {
        await copyFile(join(keysOf.dir, file), join(dir, file));
        await chmod(join(dir, file), 0o600); // ssh refuses a private key others can read
      }
    }
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

/** How one ssh client reaches the target's sshd, and the sshds on the way. */
interface SshRoute {
  readonly name: string;
  readonly label: string;
  readonly ssh: string;
  /** HOME of the client (the bench's private directory: no ~/.ssh of the user is read). */
  readonly home: string;
  /** Client options (keys, known hosts, cipher, -J) and where to log in. */
  readonly options: readonly string[];
  readonly destination: string;
  readonly servers: ReadonlyArray<{ readonly side: PathSide; readonly name: string; readonly server: SshServer }>;
}

/**
 * `ssh -N -L` for every target (plus `extra` remote ports, e.g. the API server) along `route`;
 * resolves when every local forward listens. `-v` is only there to see that moment: ssh prints
 * "Local forwarding listening on 127.0.0.1 port N" once authenticated and bound.
 */
async function startForwards(route: SshRoute, targets: TargetPorts, extra: ReadonlyMap<string, number>): Promise<SshTunnel> {
  const local = new Map<string, number>();
  const remote = new Map<string, number>([...TARGET_NAMES.map((name): [string, number] => [name, targets[name]]), ...extra]);
  for (const name of remote.keys()) local.set(name, await freePort());
  const forwardArgs = [...remote].flatMap(([name, port]) => ['-L', `127.0.0.1:${local.get(name)}:127.0.0.1:${port}`]);
  const ssh = startProcess(
    route.ssh,
    ['-N', '-v', '-o', 'ExitOnForwardFailure=yes', ...route.options, ...forwardArgs, route.destination],
    { PATH: process.env['PATH'] ?? '', HOME: route.home },
  );
  try {
    for (const port of local.values()) {
      await ssh.waitFor(new RegExp(`Local forwarding listening on 127\\.0\\.0\\.1 port ${port}\\.`), READY_TIMEOUT_MS, 'stderr');
    }
  } catch (err) {
    await ssh.stop('SIGTERM', 2000);
    const logs = route.servers.map(({ name, server }) => `${name}: ${server.process.stderr().slice(-1000)}`).join('\n');
    throw new Error(`${route.label} did not come up: ${(err as Error).message}\nssh: ${ssh.stderr().slice(-1000)}\n${logs}`, { cause: err });
  }
  const port = (name: TargetName): number => local.get(name) ?? 0;
  return {
    name: route.name,
    label: route.label,
    ports: { source: port('source'), http: port('http'), hello: port('hello') },
    extraPorts: new Map([...extra.keys()].map((name) => [name, local.get(name) ?? 0])),
    // ssh (with the ssh it starts for a -J hop) and each sshd with the per-connection children it forked.
    processes: () => [{ side: 'laptop', name: 'ssh', pid: ssh.child.pid }, ...route.servers.map(({ side, name, server }) => ({ side, name, pid: server.process.child.pid }))],
    close: async () => {
      await ssh.stop('SIGTERM', 3000);
    },
  };
}

/** `ssh -N -L` straight to `server`, one encrypted hop. */
export function startSshTunnel(server: SshServer, targets: TargetPorts, cipher: string, extra: ReadonlyMap<string, number> = new Map()): Promise<SshTunnel> {
  return startForwards(
    {
      name: cipher === SSH_CIPHER_AES_GCM ? 'ssh' : `ssh_${cipher.split(/[-@]/)[0]}`,
      label: `OpenSSH ssh -N -L (${cipher})`,
      ssh: server.tools.ssh,
      home: server.dir,
      options: sshClientArgs(server, cipher),
      destination: `${userInfo().username}@127.0.0.1`,
      servers: [{ side: 'target', name: 'sshd', server }],
    },
    targets,
    extra,
  );
}

/** The bastion path: a second sshd in front of the target's, and the client options that go through it. */
export interface SshBastion {
  /** The bastion's sshd (same keys as the target's). */
  readonly jump: SshServer;
  readonly target: SshServer;
  readonly cipher: string;
  /** ssh options for `ssh OPTIONS 127.0.0.1`: to the target's sshd with `-J` through the bastion. */
  clientArgs(): string[];
  close(): Promise<void>;
}

/** Start the bastion's sshd for `target` (same throw-away keys) and write the client config both hops read. */
export async function startSshBastion(target: SshServer, cipher: string): Promise<SshBastion> {
  const jump = await startSshServer(target.tools, target);
  try {
    const knownHosts = join(jump.dir, 'known_hosts_both');
    const hostKey = (await readFile(join(jump.dir, 'host_key.pub'), 'utf8')).trim();
    await writeFile(knownHosts, [jump.port, target.port].map((port) => `[127.0.0.1]:${port} ${hostKey}\n`).join(''), { mode: 0o600 });
    const config = join(jump.dir, 'ssh_config');
    const lines = [
      // Both hops: the bastion (-J) and the target behind it, each its own ssh connection.
      'Host 127.0.0.1',
      `  IdentityFile ${join(jump.dir, 'client_key')}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${knownHosts}`,
      '  GlobalKnownHostsFile /dev/null',
      '  StrictHostKeyChecking yes',
      '  BatchMode yes',
      '  Compression no',
      `  Ciphers ${cipher}`,
    ];
    await writeFile(config, `${lines.join('\n')}\n`, { mode: 0o600 });
    const user = userInfo().username;
    return {
      jump,
      target,
      cipher,
      clientArgs: () => ['-F', config, '-J', `${user}@127.0.0.1:${jump.port}`, '-p', String(target.port), '-l', user],
      close: () => jump.close(),
    };
  } catch (err) {
    await jump.close();
    throw err;
  }
}

/** `ssh -N -L` with `-J`: laptop ssh → bastion sshd → target sshd, two encrypted hops. */
export function startSshJumpTunnel(bastion: SshBastion, targets: TargetPorts, extra: ReadonlyMap<string, number> = new Map()): Promise<SshTunnel> {
  return startForwards(
    {
      name: 'ssh_jump',
      label: `OpenSSH ssh -N -J -L (${bastion.cipher}, both hops)`,
      ssh: bastion.target.tools.ssh,
      home: bastion.jump.dir,
      options: bastion.clientArgs(),
      destination: '127.0.0.1',
      servers: [
        { side: 'middle', name: 'jump sshd', server: bastion.jump },
        { side: 'target', name: 'target sshd', server: bastion.target },
      ],
    },
    targets,
    extra,
  );
}
