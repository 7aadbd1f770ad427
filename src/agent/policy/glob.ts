/**
 * Glob patterns for policy rules (docs/design.md §6; grammar in docs/policy.md): `*` matches any
 * run of characters, including none; every other character matches itself. There is no escape, no
 * `?`, no character class, and no regular expression is ever built from a pattern.
 *
 * Matching cannot backtrack catastrophically. A pattern is split at its stars into literal
 * pieces; the first piece must be a prefix, the last a suffix, and each middle piece is found
 * at its leftmost occurrence after the previous one (leftmost is always safe for star-only
 * globs: an earlier match leaves more room for the pieces after it). Each piece is searched
 * with Knuth-Morris-Pratt from a cursor that only moves forward, so one match costs
 * O(|text| + |pattern|) whatever the pattern (`*a*a*a*a*b` against `aaaa…` included).
 *
 * Untrusted input: the text being matched (it comes from request paths and headers). Patterns
 * come from the sharer's command line and are length-bounded by the rule parser.
 */

/** A compiled glob: the literal pieces between stars and their KMP failure tables. */
export interface Glob {
  /** The pattern as written. */
  readonly source: string;
  /** True when the pattern has no star: the text must equal it. */
  readonly exact: boolean;
  /** Literal before the first star (or the whole pattern when `exact`). */
  readonly head: string;
  /** Literal after the last star. */
  readonly tail: string;
  /** Non-empty literals between stars, in order, each with its KMP failure table. */
  readonly middle: ReadonlyArray<{ readonly piece: string; readonly failure: Int32Array }>;
}

/** Compile a pattern; consecutive stars collapse into one. */
export function compileGlob(source: string): Glob {
  const pieces = source.split('*');
  if (pieces.length === 1) return { source, exact: true, head: source, tail: '', middle: [] };
  const head = pieces[0] ?? '';
  const tail = pieces[pieces.length - 1] ?? '';
  const middle = pieces
    .slice(1, -1)
    .filter((piece) => piece.length > 0)
    .map((piece) => ({ piece, failure: failureTable(piece) }));
  return { source, exact: false, head, tail, middle };
}

/** True when the whole of `text` matches the glob. */
export function globMatches(glob: Glob, text: string): boolean {
  if (glob.exact) return text === glob.source;
  if (text.length < glob.head.length + glob.tail.length) return false;
  if (!text.startsWith(glob.head)) return false;
  if (!text.endsWith(glob.tail)) return false;
  // Middle pieces must fit between the head and the tail without overlapping either.
  const end = text.length - glob.tail.length;
  let cursor = glob.head.length;
  for (const { piece, failure } of glob.middle) {
    const at = kmpIndexOf(text, piece, failure, cursor, end);
    if (at < 0) return false;
    cursor = at + piece.length;
  }
  return true;
}

/** KMP failure table: failure[i] = length of the longest proper border of piece[0..i]. */
function failureTable(piece: string): Int32Array {
  const failure = new Int32Array(piece.length);
  let k = 0;
  for (let i = 1; i < piece.length; i++) {
    while (k > 0 && piece[i] !== piece[k]) k = failure[k - 1] ?? 0;
    if (piece[i] === piece[k]) k++;
    failure[i] = k;
  }
  return failure;
}

/**
 * Leftmost index >= `from` where `piece` occurs entirely before `end`, or -1. Each text
 * character is examined a bounded number of times (amortised), so the search is linear.
 */
function kmpIndexOf(text: string, piece: string, failure: Int32Array, from: number, end: number): number {
  let matched = 0;
  for (let i = from; i < end; i++) {
    while (matched > 0 && text[i] !== piece[matched]) matched = failure[matched - 1] ?? 0;
    if (text[i] === piece[matched]) matched++;
    if (matched === piece.length) return i - piece.length + 1;
  }
  return -1;
}
