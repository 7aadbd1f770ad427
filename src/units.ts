/**
 * Quantities people type on a command line or in an environment variable, parsed in one place
 * (docs/architecture.md "Units"): durations with a unit (`500ms`, `30s`, `2m`, `8h`, `1d`),
 * byte sizes (`1048576`, `512KiB`, `16MiB`, `1GiB`) and counts, and the same values formatted
 * back the way they are written. Every relay limit, `share --max-duration` and any future
 * option of a size or a duration go through these parsers, so a value means the same thing
 * wherever it is typed.
 *
 * Untrusted input: the text (argv, environment). Parsing is strict: a duration needs its unit
 * (`30` is never guessed at), only decimal digits, bounded lengths, no fractions, no signs.
 * A parser returns undefined for text it does not accept; the caller names the flag in its error.
 */

export const SECOND_MS = 1000;
export const MINUTE_MS = 60 * SECOND_MS;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;
export const KIB = 1024;
export const MIB = 1024 * KIB;
export const GIB = 1024 * MIB;
/** setTimeout's longest delay (2^31 - 1 ms, about 24.8 days): a longer duration cannot be waited for. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

const DURATION = /^(\d{1,10})(ms|s|m|h|d)$/;
const DURATION_FACTORS: Readonly<Record<string, number>> = { ms: 1, s: SECOND_MS, m: MINUTE_MS, h: HOUR_MS, d: DAY_MS };
const BYTES = /^(\d{1,13})(B|KiB|MiB|GiB)?$/;
const BYTE_FACTORS: Readonly<Record<string, number>> = { B: 1, KiB: KIB, MiB: MIB, GiB: GIB };

/** Milliseconds of `500ms`, `30s`, `2m`, `8h`, `1d` (a unit is required, so `30` is never ambiguous). */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text.trim());
  if (match === null) return undefined;
  return Number(match[1]) * DURATION_FACTORS[match[2]!]!;
}

/** Bytes of `1048576`, `512KiB`, `16MiB`, `1GiB` (binary units only: a KiB is 1024 bytes). */
export function parseByteSize(text: string): number | undefined {
  const match = BYTES.exec(text.trim());
  if (match === null) return undefined;
  return Number(match[1]) * BYTE_FACTORS[match[2] ?? 'B']!;
}

/** A non-negative decimal integer of at most 10 digits. */
export function parseCount(text: string): number | undefined {
  const trimmed = text.trim();
  return /^\d{1,10}$/.test(trimmed) ? Number(trimmed) : undefined;
}

/** A duration the way it is typed: the largest whole unit (`8h`, `90s`, `1500ms`). */
export function formatDuration(ms: number): string {
  for (const [suffix, factor] of [['d', DAY_MS], ['h', HOUR_MS], ['s', SECOND_MS]] as const) {
    if (ms >= factor && ms % factor === 0) return `${ms / factor}${suffix}`;
  }
  return `${ms}ms`;
}

/** A size the way it is typed: the largest whole binary unit (`16MiB`), else plain bytes. */
export function formatByteSize(bytes: number): string {
  for (const [suffix, factor] of [['GiB', GIB], ['MiB', MIB], ['KiB', KIB]] as const) {
    if (bytes >= factor && bytes % factor === 0) return `${bytes / factor}${suffix}`;
  }
  return String(bytes);
}
