/**
 * Put the launch line's V8 heap flag back to its default once the heap is sized (issue 15,
 * start-up; docs/performance.md "Start to first byte, seventh pass"). main.ts imports this
 * module first, so it runs before any other module of ours loads.
 *
 * V8 checks every code cache against a hash of its flags, and `--initial-old-space-size` is in
 * that hash: started with it (src/cli/node-flags.ts), Node.js rejected the code cache built into
 * its binary for every one of its own modules (137 on connect's path to its first byte) and
 * compiled them from source, some 80 ms of CPU per `kubepair connect` here. V8 reads the flag
 * once, when it configures the isolate's heap, which is done before any JavaScript runs; set
 * back to its default afterwards, the heap stays as configured (connect's CPU per GiB of a bulk
 * download is the same: docs/performance.md) and the hash is Node.js's own again, so its modules
 * loaded from here on take their cache. Only node:v8 and what it loads are compiled before.
 * Node.js documents flag changes after start-up as undefined behaviour: this one restores a
 * value V8 no longer reads, and test/unit/cli/heap-flag-reset.test.ts checks both effects on
 * every supported Node.js. Input: none.
 */
import { setFlagsFromString } from 'node:v8';
import { BIN_NODE_FLAG_DEFAULTS } from './node-flags.js';

for (const flag of BIN_NODE_FLAG_DEFAULTS) setFlagsFromString(flag);
