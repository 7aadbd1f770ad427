/**
 * The complete records of an agent's audit log as it is on disk right now, read synchronously
 * (usable inside an accept callback): a missing file is no records, a line still being written
 * (not ending in `}`) is left out.
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
  return text
    .split('\n')
    .filter((line) => line.endsWith('}'))
    .map((line) => JSON.parse(line) as AuditRecord);
}
