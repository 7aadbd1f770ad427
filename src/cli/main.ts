#!/usr/bin/env node
/** Entry point of the `kubepair` binary; all logic lives in run-cli.ts. */
import { runCli } from './run-cli.js';

// `kubepair ... | head` closes our stdout early: that is the reader leaving, not a failure
// worth a stack trace. Any other output error still ends the process with a clear line.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE' && stream === process.stdout) process.stderr.write(`kubepair: cannot write output: ${err.code ?? err.message}\n`);
    process.exit(err.code === 'EPIPE' ? 0 : 1);
  });
}

process.exitCode = await runCli(process.argv.slice(2));
