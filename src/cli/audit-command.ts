/**
 * `kubepair audit verify FILE... [--segment]`: argument parsing only; the work is in
 * src/audit/verify.ts (docs/design.md §6; docs/audit.md "Verification"). Prints a one-line verdict:
 * on success to stdout (exit 0); on failure as a KP_ERR_AUDIT_VERIFY_FAILED error (exit 1).
 * Bad usage exits 2 (commander).
 */
import type { Command } from 'commander';
import { z } from 'zod';
import { KubepairError } from '../errors/index.js';
import { describeVerifyResult, verifyAuditFiles } from '../audit/verify.js';
import { flag, parseCommandOptions } from './command-options.js';

/** `kubepair audit verify`'s one option. */
const VerifyOptionsSchema = z.strictObject({ segment: flag });

export function registerAuditCommand(program: Command): void {
  const audit = program
    .command('audit')
    .description('work with kubepair audit logs')
    .helpCommand(false);
  audit
    .command('verify')
    .description('verify the hash chain of an audit log (fail-closed); give rotated files oldest first')
    .argument('<file...>', 'audit files to check as one chain, oldest first (e.g. audit.jsonl.2 audit.jsonl.1 audit.jsonl)')
    .option('--segment', 'accept a first record that is not the genesis record (a rotated middle piece)')
    .addHelpText(
      'after',
      `
Fails (exit 1) on a missing or empty file, a head that is not the genesis record (unless
--segment), an edited, inserted, reordered or deleted record, and a partial or non-JSON line.
It cannot detect records cut from the end, or a log rewritten with a recomputed chain: ship
the log off-host and compare (docs/audit.md).`,
    )
    .action(async (files: string[], rawOptions: unknown) => {
      const options = parseCommandOptions(VerifyOptionsSchema, rawOptions, 'audit verify');
      const result = await verifyAuditFiles(files, { segment: options.segment === true });
      const verdict = describeVerifyResult(result, files);
      if (!result.ok) throw new KubepairError('KP_ERR_AUDIT_VERIFY_FAILED', verdict);
      process.stdout.write(`kubepair audit verify: ${verdict}\n`);
    });
}
