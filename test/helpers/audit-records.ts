/**
 * The complete records of an agent's audit log as it is on disk right now, read synchronously
 * (usable inside an accept callback): a missing file is no records, and a line still being
 * written (not yet ended by its newline: the writer appends one after every record) is left out.
 */
import { readFileSync } from 'node:fs';

export type AuditRecord = Record<string, unknown>;

export function readAuditRecords(path: string): AuditRecord[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  const lines = text.split('\n');
  lines.pop(); // '' after the last newline, or a record still being written
  return lines.filter((line) => line !== '').map((line) => JSON.parse(line) as AuditRecord);
}
