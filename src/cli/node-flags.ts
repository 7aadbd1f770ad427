/**
 * The flags the `kubepair` binary gives Node.js itself, on its shebang line (src/cli/main.ts):
 * `#!/usr/bin/env -S node FLAGS`. V8 sizes its heap when the isolate is created, so these cannot
 * be set from inside the process (`v8.setFlagsFromString` comes too late), `NODE_OPTIONS`
 * refuses them, and starting a second process would cost every command's start-up. The
 * shebang is read by the kernel (`env -S` splits the line), and by npm's cmd-shim on Windows,
 * which writes the same flags into the `.cmd` and `.ps1` wrappers it installs.
 * `node dist/cli/main.js ...` does not read the shebang: such a run goes without these flags.
 * test/unit/cli/node-flags.test.ts keeps main.ts's first line and this list in step; the bench
 * starts its kubepair processes with them, as the installed binary runs. Input: none.
 */
import { NODE_INITIAL_OLD_SPACE_MIB } from '../limits.js';

/** The Node.js command-line flags of the installed binary (docs/performance.md, issue 15). */
export const BIN_NODE_FLAGS: readonly string[] = [`--initial-old-space-size=${NODE_INITIAL_OLD_SPACE_MIB}`];

/** The shebang line src/cli/main.ts (and so dist/cli/main.js) must start with. */
export const BIN_SHEBANG = `#!/usr/bin/env -S node ${BIN_NODE_FLAGS.join(' ')}`;
