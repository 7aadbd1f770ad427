/**
 * Text from someone else, made inert before it reaches a terminal (issue 10, "Peer text reaches
 * the terminal raw"; docs/design.md §7: everything from the network is untrusted).
 *
 * A string the agent, the relay or a remote client chose can do more than read badly when it is
 * printed: ESC, CSI, OSC and DCS sequences retitle the window (OSC 0/2), write the clipboard
 * (OSC 52), move the cursor and erase lines; C1 controls do the same on terminals that honour
 * them (U+009B is CSI); a carriage return or backspace overwrites what was printed before, so a
 * banner can be made to say `readonly` for an `open` session; bidi overrides and isolates
 * reorder what is shown; invisible format characters and lone surrogates hide or mangle text.
 *
 * `inertText` keeps only characters that draw themselves — the ASCII space and the Unicode
 * letters, marks, numbers, punctuation and symbols (general categories L, M, N, P, S), minus a
 * few letters that draw nothing — and shows every other character as a visible escape: `\x1b`,
 * `\x9b`, `\u202e`, `\u{e0041}`, `\ud800` for a lone surrogate. Line breaks are escaped too, so
 * one field stays on one line. The backslash itself is doubled, so an escape in the output
 * always stands for a replaced character and never for text that was written to look like one.
 * The output is bounded: at most `maxChars` characters, escapes counted in full, then `…`.
 *
 * This is the one function every string from outside goes through before kubepair prints it
 * (src/cli/connect-output.ts, share-output.ts, report-error.ts). Untrusted input: `text`, all
 * of it.
 */
import { TERMINAL_FIELD_MAX_CHARS } from '../limits.js';

export interface InertTextOptions {
  /** Longest output, in characters (default TERMINAL_FIELD_MAX_CHARS). */
  readonly maxChars?: number;
  /**
   * Escape everything outside printable ASCII. For fields whose honest values are ASCII (policy
   * rules): every character is then one terminal column, so a bounded field cannot wrap.
   */
  readonly asciiOnly?: boolean;
}

/** Characters that draw themselves (the ASCII space is allowed separately). */
const DRAWS_ITSELF = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

/**
 * Letters and symbols that render as nothing (Hangul fillers, the braille blank) and can pad or
 * hide text like a format character does.
 */
const BLANK_GLYPHS = new Set([0x115f, 0x1160, 0x3164, 0xffa0, 0x2800]);

function escapeCodePoint(codePoint: number): string {
  if (codePoint <= 0xff) return `\\x${codePoint.toString(16).padStart(2, '0')}`;
  if (codePoint <= 0xffff) return `\\u${codePoint.toString(16).padStart(4, '0')}`;
  return `\\u{${codePoint.toString(16)}}`;
}

/** How one character (a code point, or a lone surrogate) is shown. */
function render(char: string, asciiOnly: boolean): string {
  const codePoint = char.codePointAt(0)!;
  if (codePoint === 0x5c) return '\\\\';
  if (codePoint >= 0x20 && codePoint <= 0x7e) return char;
  if (asciiOnly || BLANK_GLYPHS.has(codePoint)) return escapeCodePoint(codePoint);
  // A lone surrogate is a one-unit string; /u regexes do not match it as a letter, so it is escaped.
  return DRAWS_ITSELF.test(char) ? char : escapeCodePoint(codePoint);
}

/**
 * `text` with every character that is not plainly visible replaced by a visible escape, on one
 * line, at most `maxChars` characters long (an ellipsis marks a cut). Safe to print.
 */
export function inertText(text: string, options: InertTextOptions = {}): string {
  const maxChars = options.maxChars ?? TERMINAL_FIELD_MAX_CHARS;
  const asciiOnly = options.asciiOnly === true;
  const ellipsis = asciiOnly ? '...' : '…';
  const pieces: string[] = [];
  let length = 0;
  // Iterating by code point keeps surrogate pairs whole and yields lone surrogates alone. The
  // loop stops at the bound, so a huge input costs no more than a short one.
  for (const char of text) {
    const shown = render(char, asciiOnly);
    if (length + shown.length > maxChars) {
      // Cut whole pieces, never half an escape or half a surrogate pair, to make room for the mark.
      while (pieces.length > 0 && length + ellipsis.length > maxChars) length -= pieces.pop()!.length;
      return pieces.join('') + ellipsis;
    }
    pieces.push(shown);
    length += shown.length;
  }
  return pieces.join('');
}
