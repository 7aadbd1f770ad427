/**
 * The layering rules of docs/architecture.md and CONVENTIONS §1, checked on the source: roles
 * (agent, client, relay) never import each other or the CLI, and the pure layers (crypto,
 * channel, mux, session, errors) import no role. `protocol/` is shared by every layer and
 * depends on nothing but errors, limits and version; the leaves (events, net, terminal) import no
 * role and no machinery. A new top-level directory of src/ is checked only once it has a row in
 * FORBIDDEN. The agent and client roles are objects a front end drives (docs/architecture.md
 * "Role objects"): they print nothing, handle no signal, decide no exit code and start no child
 * process but an exec credential plugin. A rule broken here fails the build.
 */
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { repoPath } from '../../helpers/paths.js';

async function sourceFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const files = await Promise.all(
    entries.map((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return sourceFiles(path);
      return Promise.resolve(entry.name.endsWith('.ts') ? [path] : []);
    }),
  );
  return files.flat();
}

/** Top-level src/ directory of every relative import in a file. */
async function importedAreas(file: string): Promise<string[]> {
  const text = await readFile(file, 'utf8');
  const src = repoPath('src');
  const areas: string[] = [];
  for (const match of text.matchAll(/(?:from|import\()\s*'(\.[^']+)'/g)) {
    const target = relative(src, join(file, '..', match[1]!));
    areas.push(target.split('/')[0]!);
  }
  return areas;
}

const FORBIDDEN: Readonly<Record<string, readonly string[]>> = {
  agent: ['client', 'relay', 'cli'],
  client: ['agent', 'relay', 'cli'],
  relay: ['agent', 'client', 'cli'],
  'relay-client': ['agent', 'client', 'relay', 'cli'],
  credentials: ['agent', 'client', 'relay', 'cli'],
  crypto: ['agent', 'client', 'relay', 'relay-client', 'cli', 'channel', 'mux', 'audit'],
  channel: ['agent', 'client', 'relay', 'relay-client', 'cli', 'mux', 'audit'],
  mux: ['agent', 'client', 'relay', 'relay-client', 'cli', 'audit'],
  session: ['agent', 'client', 'relay', 'relay-client', 'cli'],
  // The local control socket both share and connect run: shared, so it depends on no role.
  control: ['agent', 'client', 'relay', 'relay-client', 'cli', 'crypto', 'channel', 'mux', 'audit'],
  // The wire formats every role speaks: shared, so it may depend on no role and no machinery.
  protocol: ['agent', 'client', 'relay', 'relay-client', 'credentials', 'cli', 'crypto', 'channel', 'mux', 'session', 'audit', 'tls', 'process', 'terminal'],
  errors: ['agent', 'client', 'relay', 'relay-client', 'cli', 'crypto', 'channel', 'mux', 'audit'],
  // Waiting for one event, bounded: a leaf the roles share.
  events: ['agent', 'client', 'relay', 'relay-client', 'credentials', 'cli', 'crypto', 'channel', 'mux', 'session', 'audit', 'tls', 'process', 'terminal', 'protocol'],
  // IP address text (the one IPv6 group expansion the client and the relay share): a leaf.
  net: ['agent', 'client', 'relay', 'relay-client', 'credentials', 'cli', 'crypto', 'channel', 'mux', 'session', 'audit', 'tls', 'process', 'terminal', 'protocol', 'events', 'control', 'errors'],
  // Terminal-safe text: a leaf every printer may use, so it depends on nothing but limits.
  terminal: ['agent', 'client', 'relay', 'relay-client', 'credentials', 'cli', 'crypto', 'channel', 'mux', 'session', 'audit', 'tls', 'process', 'errors'],
};

describe('architecture: layering', () => {
  it('no module imports a layer it must not depend on', async () => {
    const violations: string[] = [];
    for (const [area, forbidden] of Object.entries(FORBIDDEN)) {
      for (const file of await sourceFiles(repoPath(`src/${area}`))) {
        for (const imported of await importedAreas(file)) {
          if (forbidden.includes(imported)) violations.push(`${relative(repoPath('.'), file)} imports src/${imported}`);
        }
      }
    }
    assert.deepEqual(violations, []);
  });

  it('the agent and client roles print nothing and end no process: the terminal, child shells and exit codes are the front end\'s (cli/)', async () => {
    const violations: string[] = [];
    // The one child process a role may start: an exec credential plugin, in the agent.
    const mayStartProcesses = new Set(['src/agent/exec-credential.ts']);
    for (const area of ['agent', 'client']) {
      for (const file of await sourceFiles(repoPath(`src/${area}`))) {
        const name = relative(repoPath('.'), file);
        // Comments may name what they avoid; only code counts.
        const code = (await readFile(file, 'utf8')).replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
        for (const [pattern, what] of [
          [/process\.(stdout|stderr)\b/, 'writes to the terminal'],
          [/process\.exit(Code)?\b/, 'decides the exit code'],
          [/process\.(on|once)\(\s*'SIG/, 'handles signals'],
        ] as const) {
          if (pattern.test(code)) violations.push(`${name} ${what}`);
        }
        if (/'node:child_process'/.test(code) && !mayStartProcesses.has(name)) violations.push(`${name} starts child processes`);
      }
    }
    assert.deepEqual(violations, []);
  });

  it('the check sees imports (it would catch a violation)', async () => {
    const areas = await importedAreas(repoPath('src/agent/code-offer.ts'));
    assert.ok(areas.includes('relay-client') && areas.includes('channel'), `code-offer.ts imports: ${areas.join(', ')}`);
  });
});
