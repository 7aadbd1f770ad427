/**
 * A private user for the processes of an end-to-end test: its own HOME, runtime, state and
 * config directories (0700) under the test's temporary directory, the environment that points
 * kubepair at them (nothing of the real user's leaks in), and relay tokens created in a tokens
 * file of its config directory with the real `kubepair relay token create`.
 */
import { chmod, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { runKubepair } from './cli.js';

/** `kubepair relay token create`, in ms (a loaded machine starts the CLI slowly). */
const TOKEN_CREATE_TIMEOUT_MS = 60_000;

export interface UserHome {
  readonly home: string;
  readonly runtimeDir: string;
  readonly state: string;
  readonly config: string;
  /** The environment of a process run as this user; `path` replaces PATH when given. */
  env(): NodeJS.ProcessEnv;
}

export async function makeUserHome(dir: string, path?: string): Promise<UserHome> {
  const home = join(dir, 'home');
  const runtimeDir = join(dir, 'run');
  const state = join(dir, 'state');
  const config = join(dir, 'config');
  for (const directory of [home, runtimeDir, state, config]) {
    await mkdir(directory, { recursive: true });
    await chmod(directory, 0o700);
  }
  return {
    home,
    runtimeDir,
    state,
    config,
    env: () => ({
      PATH: path ?? process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: home,
      XDG_RUNTIME_DIR: runtimeDir,
      XDG_STATE_HOME: state,
      XDG_CONFIG_HOME: config,
      SHELL: '/bin/sh',
    }),
  };
}

/** Create a relay token of `scope` named `name` in `tokensFile`; resolves with the token. */
export async function createRelayToken(user: UserHome, tokensFile: string, scope: string, name: string, program?: string): Promise<string> {
  const result = await runKubepair(['relay', 'token', 'create', '--scope', scope, '--name', name, '--tokens-file', tokensFile], {
    env: user.env(),
    timeoutMs: TOKEN_CREATE_TIMEOUT_MS,
    program,
  });
  const token = /kprt_[A-Za-z0-9_-]{43}/.exec(result.stdout)?.[0];
  if (result.timedOut) throw new Error(`kubepair relay token create did not finish within ${TOKEN_CREATE_TIMEOUT_MS} ms: ${result.stderr}`);
  if (result.code !== 0 || token === undefined) throw new Error(`token create failed: ${result.stderr}`);
  return token;
}
