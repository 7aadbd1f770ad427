#!/bin/sh
':' + /*; exec node --initial-old-space-size=128 "$0" "$@"; */ ''; // eslint-disable-line @typescript-eslint/no-unused-expressions
/**
 * Entry point of the `kubepair` binary; all logic lives in run-cli.ts, or connect-cli.ts for
 * `kubepair connect CODE ...` (cli-entry.ts chooses). On a Node.js release kubepair does not
 * support it says so in one line and runs nothing (node-support.ts). The entry module is
 * imported only after that check: its dependencies (undici 8 under @kubernetes/client-node)
 * may fail as they load on an old Node.js, which would crash before any check could run. Before
 * that import V8's compile cache is enabled (compile-cache.ts), so that the entry module and all
 * it loads are cached; in the package this file, run-cli.js and connect-cli.js are the entry
 * points scripts/bundle.mjs builds. Its first two lines start Node.js with the flags of node-flags.ts
 * (`--initial-old-space-size`: V8 takes it only on node's command line) through /bin/sh, and its
 * first import puts that flag back to its default once the heap is sized (heap-flag-reset.ts);
 * V8 flags a Node.js may lack (runtime-v8-flags.ts) are set by share before the compile cache
 * and by connect once it is ready: why there, in one place, at the call below.
 */
// First: the heap flag of the launch line back to its default before anything else loads.
import './heap-flag-reset.js';
import { cliEntryFor } from './cli-entry.js';
import { enableCompileCache } from './compile-cache.js';
import { compiledEagerly } from './eager-compile.js';
import { unsupportedNode } from './node-support.js';
import { reportError } from './report-error.js';
import { applyRuntimeV8Flags, carriesTraffic } from './runtime-v8-flags.js';
import { markStartup } from './startup-timeline.js';

markStartup('main');

// `kubepair ... | head` closes our stdout early: that is the reader leaving, not a failure
// worth a stack trace. Any other output error still ends the process with a clear line.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && stream === process.stdout) process.stderr.write(`kubepair: cannot write output: ${err.code ?? err.message}\n`);
    process.exit(err.code === 'EPIPE' ? 0 : 1);
  });
}

const unsupported = unsupportedNode(process.versions.node);
if (unsupported === undefined) {
  const argv = process.argv.slice(2);
  // The runtime V8 flags (runtime-v8-flags.ts): one point per role, chosen for one reason. V8
  // keys compiled code to its flags, and Node.js's own modules come with a code cache made under
  // V8's defaults, which it rejects for every module loaded after a flag changed.
  // - share sets them here, before the compile cache: every run then compiles, and reads and
  //   writes that cache, under the same flags; nobody waits on share's start as on connect's.
  // - connect sets them once it is ready (connect-run.ts: paired, listening), before any
  //   traffic: set here, every module of its start would be compiled from source
  //   (docs/performance.md "Start to first byte, seventh pass"), and that start is what a user
  //   waits for.
  // - the relay and the other commands set none (carriesTraffic; they cost the relay CPU).
  if (carriesTraffic(argv) && argv[0] !== 'connect') applyRuntimeV8Flags();
  enableCompileCache();
  // connect's entry is compiled whole, so that its compile cache holds every function (eager-compile.ts).
  const { runCli } = cliEntryFor(argv) === 'connect-cli' ? await compiledEagerly(() => import('./connect-cli.js')) : await import('./run-cli.js');
  markStartup('cli_loaded');
  process.exitCode = await runCli(argv);
} else {
  const report = reportError(unsupported, false);
  process.stderr.write(report.text);
  process.exitCode = report.exitCode;
}
