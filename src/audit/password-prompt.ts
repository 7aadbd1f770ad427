/**
 * Tells whether the terminal is showing a password prompt (docs/audit.md "Redaction of input"):
 * the recorder cannot see the pty's ECHO flag (it is in the container), so it judges from the
 * output it recorded. The output is followed as a terminal would show it, one line at a time:
 * escape sequences (CSI such as colours and cursor moves, OSC such as window titles, DCS/SOS/PM/
 * APC strings, two-character escapes, their 8-bit C1 forms) and other control characters are
 * not shown; CR and LF start a new line (also inside an escape or CSI sequence, which they end;
 * not inside an OSC or DCS string, where a terminal ignores them). Only the visible text of the
 * current (last) line is kept, bounded by PASSWORD_PROMPT_LINE_MAX_CHARS; a longer line is not
 * a prompt. Output before a message's last line break is skipped unread when no string can be
 * open there, so bulk output costs a search for that line break (docs/performance.md).
 *
 * A line is a password prompt when, with its surrounding spaces removed, it matches
 * PASSWORD_PROMPT: up to four words, one of the prompt words (password, passphrase, PIN,
 * verification code, ...), optionally a parenthesis, `again` or `for`/`of` and up to four
 * names, and a colon at the very end. A line that only mentions a password (`password_policy =
 * strict`, `Last password change: never`) is not one.
 *
 * Untrusted input: every output character (the container's program writes it). The state is a
 * few numbers and one bounded string; each character is looked at most once.
 */
import { PASSWORD_PROMPT_LINE_MAX_CHARS } from '../limits.js';

/** What a line typed at a password prompt is recorded as (its line end follows it). */
export const PASSWORD_LINE_REDACTED = '[REDACTED: typed at a password prompt]';

/** The words a password prompt asks for (any case). */
const PROMPT_WORDS = [
  'password',
  'passwd',
  'passphrase',
  'pass phrase',
  'passcode',
  'pin',
  'pin code',
  'puk',
  'verification code',
  'security code',
  'authentication code',
  'one-time password',
  'one-time code',
  'otp',
  'token',
  'api key',
  'secret key',
].join('|');
/** One name after `for` or `of`: a quoted text (`'...'`, `"..."`, `` `...' ``) or a word without a colon. */
const PROMPT_NAME = String.raw`(?:'[^'\r\n]{0,256}'|"[^"\r\n]{0,256}"|${'`'}[^'${'`'}\r\n]{0,256}'|[^\s:'"${'`'}]{1,128})`;
/**
 * A password prompt line (its spaces trimmed and runs of spaces made one). No backtracking to
 * speak of: each word in front ends at the next space (its class has none), so the only choice
 * is how many (at most five ways), and the quoted and plain names start with disjoint
 * characters; every quantifier is bounded and the line is at most PASSWORD_PROMPT_LINE_MAX_CHARS.
 * Examples: `Password:`, `[sudo] password for alice:`, `Enter passphrase for key '/root/.ssh/
 * id_ed25519':`, `alice@db's password:`, `Retype new password:`, `Password (again):`,
 * `Enter same passphrase again:`, `Verification code:`, `Enter PIN for 'PIV Card':`.
 */
export const PASSWORD_PROMPT = new RegExp(
  String.raw`^(?:[^\s:]{1,64} ){0,4}(?:${PROMPT_WORDS})(?: \([^()\r\n]{1,64}\))?(?: again| (?:for|of) ${PROMPT_NAME}(?: ${PROMPT_NAME}){0,3})?:$`,
  'i',
);

/** True when `line` (visible text, no escapes) is a password prompt. */
export function isPasswordPrompt(line: string): boolean {
  if (line.length > PASSWORD_PROMPT_LINE_MAX_CHARS) return false;
  return PASSWORD_PROMPT.test(line.trim().replace(/\s+/g, ' '));
}

/** Where the terminal's parser is (as in the DEC/ECMA-48 parser, with fewer states). */
const State = {
  Ground: 0,
  Escape: 1,
  Csi: 2,
  /** The body of an OSC, DCS, SOS, PM or APC string, up to BEL or ST. */
  Text: 3,
  /** ESC inside such a string: `\` ends it (ST). */
  TextEscape: 4,
} as const;
type State = (typeof State)[keyof typeof State];

const ESC = 0x1b;
const BEL = 0x07;
const CAN = 0x18;
const SUB = 0x1a;

/** 8-bit C1 string introducers: DCS, SOS, OSC, PM, APC. */
const C1_STRING_INTRODUCER = /[\u0090\u0098\u009d-\u009f]/;

/** True when `text` may start an OSC, DCS, SOS, PM or APC string (inside which a line break is not one). */
function hasStringIntroducer(text: string): boolean {
  if (C1_STRING_INTRODUCER.test(text)) return true;
  // Each round moves past one ESC.
  for (let at = text.indexOf('\x1b'); at >= 0; at = text.indexOf('\x1b', at + 1)) {
    const next = text.charCodeAt(at + 1);
    if (next === 0x5d || next === 0x50 || next === 0x58 || next === 0x5e || next === 0x5f) return true;
  }
  return false;
}

function isLineBreak(c: number): boolean {
  return c === 0x0a || c === 0x0d;
}

/** Follows terminal output and says whether its last line is a password prompt. */
export class PromptWatcher {
  #state: State = State.Ground;
  /** The visible text of the current line, up to PASSWORD_PROMPT_LINE_MAX_CHARS. */
  #line = '';
  /** The current line grew past the bound: it is no prompt. */
  #overflow = false;

  /** Output as it is shown, in order (stdout and stderr alike). */
  output(text: string): void {
    let from = 0;
    if ((this.#state === State.Ground || this.#state === State.Csi) && !hasStringIntroducer(text)) {
      // No string (OSC, DCS, ...) can be open at the last line break, so it starts the line that
      // counts: the text before it is skipped unread (most output, at its full speed).
      const cut = Math.max(text.lastIndexOf('\n'), text.lastIndexOf('\r'));
      if (cut >= 0) {
        this.#newLine();
        this.#state = State.Ground;
        from = cut + 1;
      }
    }
    let run = -1;
    for (let i = from; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (this.#state === State.Ground && c >= 0x20 && c !== 0x7f && (c < 0x80 || c > 0x9f)) {
        if (run < 0) run = i;
        continue;
      }
      if (run >= 0) {
        this.#append(text.slice(run, i));
        run = -1;
      }
      this.#control(c);
    }
    if (run >= 0) this.#append(text.slice(run));
  }

  /** True when the last output line is a password prompt. */
  atPrompt(): boolean {
    return !this.#overflow && isPasswordPrompt(this.#line);
  }

  #append(visible: string): void {
    if (this.#overflow) return;
    if (this.#line.length + visible.length > PASSWORD_PROMPT_LINE_MAX_CHARS) {
      this.#overflow = true;
      this.#line = '';
    } else this.#line += visible;
  }

  #newLine(): void {
    this.#line = '';
    this.#overflow = false;
  }

  /**
   * A line break inside an escape or CSI sequence starts a new line and ends the sequence (a
   * terminal would go on with the sequence; none that matters for a prompt holds a line break,
   * and ending it lets the skip in output() start at any line break outside a string).
   */
  #lineBreakInSequence(): void {
    this.#newLine();
    this.#state = State.Ground;
  }

  /** One character that is not shown text (or any character inside an escape sequence). */
  #control(c: number): void {
    switch (this.#state) {
      case State.Ground:
        if (c === ESC) this.#state = State.Escape;
        else if (c === 0x9b) this.#state = State.Csi;
        else if (c === 0x90 || c === 0x98 || c === 0x9d || c === 0x9e || c === 0x9f) this.#state = State.Text;
        else if (isLineBreak(c)) this.#newLine();
        else if (c === 0x09) this.#append(' ');
        return;
      case State.Escape:
        if (c === 0x5b) this.#state = State.Csi;
        else if (c === 0x5d || c === 0x50 || c === 0x58 || c === 0x5e || c === 0x5f) this.#state = State.Text;
        else if (c === CAN || c === SUB) this.#state = State.Ground;
        else if (isLineBreak(c)) this.#lineBreakInSequence();
        else if (c === ESC || c < 0x20 || (c >= 0x20 && c <= 0x2f)) return; // a new ESC, a control, or an intermediate byte
        else this.#state = State.Ground; // the final byte
        return;
      case State.Csi:
        if (c >= 0x40 && c <= 0x7e) this.#state = State.Ground;
        else if (c === ESC) this.#state = State.Escape;
        else if (c === CAN || c === SUB) this.#state = State.Ground;
        else if (isLineBreak(c)) this.#lineBreakInSequence();
        else if (c > 0x7e) this.#state = State.Ground; // not a CSI byte: the sequence is broken
        return;
      case State.Text:
        if (c === BEL || c === 0x9c || c === CAN || c === SUB) this.#state = State.Ground;
        else if (c === ESC) this.#state = State.TextEscape;
        return;
      case State.TextEscape:
        if (c === 0x5c) this.#state = State.Ground;
        else {
          this.#state = State.Escape;
          this.#control(c);
        }
        return;
    }
  }
}
