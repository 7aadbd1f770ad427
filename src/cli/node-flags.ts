/**
 * The flags the `kubepair` binary gives Node.js itself, and the two launch lines at the top of
 * src/cli/main.ts (and so of dist/cli/main.js) that carry them:
 *
 *     #!/bin/sh
 *     ':' + /-*; exec node FLAGS "$0" "$@"; *-/ ''; // eslint-disable-line ...
 *
 * (here with `/-*` and `*-/` for the block comment's marks, which would end this one).
 *
 * V8 sizes its heap when the isolate is created, so these flags cannot be set from inside the
 * process (`v8.setFlagsFromString` comes too late), `NODE_OPTIONS` refuses them, and starting a
 * second Node.js would cost every command's start-up. The kernel runs the file with /bin/sh,
 * which runs its builtin `:` (no process; its arguments `+` and the names `/*` expands to are
 * ignored) and then replaces itself with node, started with the flags on this very file; node
 * skips the `#!` line and reads the second as the unused expression `':' + ''` with a block
 * comment inside (tsc keeps that comment where it is and only adds the `;` the line already has,
 * so the built build/src/cli/main.js launches the same way). One POSIX shell exec instead of
 * `#!/usr/bin/env -S node FLAGS`, because BusyBox's `env` (Alpine) has no `-S` and would refuse
 * to start the binary at all. The line was `//usr/bin/env true; exec ...` before, a fork and two
 * execs more per command (7-10 ms at a load of 3 here: docs/performance.md "Start to first byte,
 * seventh pass").
 * `node dist/cli/main.js ...` does not read these lines: such a run goes without the flags.
 * test/unit/cli/node-flags.test.ts keeps main.ts's first lines and this list in step and runs
 * the built file through dash and BusyBox's sh; scripts/bundle.mjs copies the second line into
 * the bundle (esbuild keeps the `#!` line, not comments); the bench starts its kubepair
 * processes with the same flags, as the installed binary runs. Input: none.
 */
import { NODE_INITIAL_OLD_SPACE_MIB } from '../limits.js';

/** The Node.js command-line flags of the installed binary (docs/performance.md, issue 15). */
export const BIN_NODE_FLAGS: readonly string[] = [`--initial-old-space-size=${NODE_INITIAL_OLD_SPACE_MIB}`];

/**
 * The same flags at V8's defaults (`node --v8-options` names each default), which
 * heap-flag-reset.ts sets once the heap is configured: V8 keys code caches to its flags, and
 * Node.js's built-in cache was made under the defaults.
 */
export const BIN_NODE_FLAG_DEFAULTS: readonly string[] = ['--initial-old-space-size=0'];

/** The first two lines src/cli/main.ts and dist/cli/main.js must start with. */
export const BIN_LAUNCH_LINES: readonly [string, string] = ['#!/bin/sh', `':' + /*; exec node ${BIN_NODE_FLAGS.join(' ')} "$0" "$@"; */ ''; // eslint-disable-line @typescript-eslint/no-unused-expressions`];
