/**
 * `kubepair audit verify FILE... [--segment]` and `kubepair audit play FILE [--speed N]
 * [--idle-limit S] [--inert]`: argument parsing only; the work is in src/audit/verify.ts,
 * recording-check.ts and replay.ts (docs/design.md §6; docs/audit.md "Verification", "Recorded
 * sessions"). verify prints a one-line verdict: on success to stdout (exit 0); on failure each
 * missing or changed recording on stderr, then a KP_ERR_AUDIT_VERIFY_FAILED error (exit 1). play
 * writes the recording's output to stdout. Bad usage exits 2 (commander, or a coded
 * KP_ERR_INVALID_ARGUMENT).
 *
 * Untrusted input: the files (a log's paths and a recording's bytes are printed only through
 * inertText, except what `play` replays on purpose).
 */
import type { Command } from 'commander';
import * as z from 'zod';
import { KubepairError } from '../errors/index.js';
import { describeRecordingProblem } from '../audit/recording-check.js';
import { replayRecording } from '../audit/replay.js';
import { describeVerifyResult, verifyAuditFiles } from '../audit/verify.js';
import { RECORDING_PLAY_DEFAULT_IDLE_LIMIT_S, TERMINAL_MESSAGE_MAX_CHARS } from '../limits.js';
import { inertText } from '../terminal/inert-text.js';
import { flag, parseCommandOptions } from './command-options.js';

/** `kubepair audit verify`'s one option. */
const VerifyOptionsSchema = z.strictObject({ segment: flag });

/** A positive decimal number typed on the command line. */
function decimal(what: string, min: number, inclusive: boolean): z.ZodType<number, string> {
  return z.string().transform((text) => {
    const value = /^\d{1,6}(\.\d{1,6})?$/.test(text) ? Number(text) : Number.NaN;
    if (!Number.isFinite(value) || value < min || (!inclusive && value === min)) {
      throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `${what} "${text.slice(0, 40)}" must be a number ${inclusive ? '>=' : '>'} ${min}`);
    }
    return value;
  });
}

/** `kubepair audit play`'s options. */
const PlayOptionsSchema = z.strictObject({
  speed: decimal('--speed', 0, false).optional(),
  idleLimit: decimal('--idle-limit', 0, true).optional(),
  inert: flag,
});

export function registerAuditCommand(program: Command): void {
  const audit = program
    .command('audit')
    .description('work with kubepair audit logs and session recordings')
    .helpCommand(false);
  audit
    .command('verify')
    .description('verify the hash chain of an audit log and the session recordings it names (fail-closed); give rotated files oldest first')
    .argument('<file...>', 'audit files to check as one chain, oldest first (e.g. audit.jsonl.2 audit.jsonl.1 audit.jsonl)')
    .option('--segment', 'accept a first record that is not the genesis record (a rotated middle piece)')
    .addHelpText(
      'after',
      `
Fails (exit 1) on a missing or empty file, a head that is not the genesis record (unless
--segment), an edited, inserted, reordered or deleted record, a partial or non-JSON line, and
a session recording named in the log that is missing or changed (each is listed on stderr).
It cannot detect records cut from the end, or a log rewritten with a recomputed chain: ship
the log off-host and compare (docs/audit.md).`,
    )
    .action(async (files: string[], rawOptions: unknown) => {
      const options = parseCommandOptions(VerifyOptionsSchema, rawOptions, 'audit verify');
      const result = await verifyAuditFiles(files, { segment: options.segment === true });
      const verdict = describeVerifyResult(result, files);
      if (!result.ok) {
        for (const problem of result.recordingProblems ?? []) {
          process.stderr.write(`kubepair audit verify: ${inertText(describeRecordingProblem(problem), { maxChars: TERMINAL_MESSAGE_MAX_CHARS })}\n`);
        }
        throw new KubepairError('KP_ERR_AUDIT_VERIFY_FAILED', verdict);
      }
      process.stdout.write(`kubepair audit verify: ${verdict}\n`);
    });
  audit
    .command('play')
    .description('replay a recorded exec, attach or debug session (asciicast v2) in this terminal')
    .argument('<file>', 'a recording, e.g. recordings/20261206T190000Z-1a2b3c-4-5d6e7f80.cast next to the audit log')
    .option('--speed <n>', 'play N times as fast (default 1)')
    .option('--idle-limit <seconds>', `longest pause between two events (default: the recording's idle_time_limit, else ${RECORDING_PLAY_DEFAULT_IDLE_LIMIT_S})`)
    .option('--inert', 'show control characters and escape sequences as visible escapes instead of letting them act on the terminal')
    .addHelpText(
      'after',
      `
The output events are what the container printed: replayed raw they act on your terminal like
\`cat\` of a file someone else wrote (colours, cursor moves, window titles). Use --inert to see
them as text. Markers (why a recording stopped) go to stderr; typed input is not replayed.`,
    )
    .action(async (file: string, rawOptions: unknown) => {
      const options = parseCommandOptions(PlayOptionsSchema, rawOptions, 'audit play');
      await replayRecording(file, {
        speed: options.speed ?? 1,
        idleLimitS: options.idleLimit,
        inert: options.inert === true,
        write: (text) => process.stdout.write(text),
        notice: (seconds, text) => process.stderr.write(`kubepair audit play: marker at ${seconds.toFixed(1)} s: ${inertText(text, { maxChars: TERMINAL_MESSAGE_MAX_CHARS })}\n`),
      });
    });
}
