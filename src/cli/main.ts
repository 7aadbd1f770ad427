#!/usr/bin/env node
/** Entry point of the `kubepair` binary; all logic lives in run-cli.ts. */
import { runCli } from './run-cli.js';

process.exitCode = await runCli(process.argv.slice(2));
