/**
 * The pairing code `<nameplate>-<secret>` (docs/design.md §4, normative): the nameplate is the
 * relay's short decimal session number, the secret 8 decimal digits drawn by the agent with the
 * CSPRNG and never sent to the relay. Displayed as `42-7315-0286`; input accepts spaces and dashes
 * anywhere after the nameplate. Typed input is untrusted: parsing is bounded and every
 * rejection says precisely what is wrong.
 */
import { randomInt } from 'node:crypto';
import * as z from 'zod';
import { KubepairError } from '../errors/index.js';
import { NAMEPLATE_MAX_DIGITS, PAIRING_CODE_INPUT_MAX_CHARS, PAIRING_SECRET_DIGITS } from '../limits.js';
import { NAMEPLATE_PATTERN as NAMEPLATE_SOURCE } from '../protocol/relay-api.js';

export interface PairingCode {
  /** Decimal nameplate, no leading zeros, 1..NAMEPLATE_MAX_DIGITS digits. */
  readonly nameplate: string;
  /** Exactly PAIRING_SECRET_DIGITS ASCII digits: the CPace PRS. */
  readonly secret: string;
}

const NAMEPLATE_PATTERN = new RegExp(NAMEPLATE_SOURCE);
const SECRET_PATTERN = new RegExp(`^[0-9]{${PAIRING_SECRET_DIGITS}}$`);

/** A parsed code as a role's configuration holds it (ClientTunnel): both parts in canonical form. */
export const PairingCodeSchema = z.strictObject({
  nameplate: z.string().regex(NAMEPLATE_PATTERN, 'a nameplate: a number from 1 without leading zeros'),
  secret: z.string().regex(SECRET_PATTERN, `the secret: exactly ${PAIRING_SECRET_DIGITS} digits`),
});
/** Dashes people paste from documents and chat apps, treated like '-'. */
const DASHES = new Set(['-', '\u2010', '\u2011', '\u2012', '\u2013', '\u2014', '\u2015', '\u2212']);
const LOOKALIKES: Readonly<Record<string, string>> = { O: '0', o: '0', l: '1', I: '1', i: '1', S: '5', B: '8' };

function malformed(detail: string): KubepairError {
  return new KubepairError('KP_ERR_PAIRING_CODE_MALFORMED', detail);
}

/** A character as it can be shown safely in an error message. */
function describeChar(char: string): string {
  const codePoint = char.codePointAt(0) ?? 0;
  if (codePoint < 0x20 || codePoint === 0x7f || (codePoint >= 0x80 && codePoint < 0xa0)) {
    return `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;
  }
  return `'${char}'`;
}

function isSeparator(char: string): boolean {
  return DASHES.has(char) || /^\s$/u.test(char);
}

/** True for a syntactically valid nameplate. */
export function isValidNameplate(nameplate: string): boolean {
  return NAMEPLATE_PATTERN.test(nameplate);
}

/** Draw a fresh secret: 8 uniformly random decimal digits from the CSPRNG (agent side). */
export function generatePairingSecret(): string {
  return randomInt(0, 10 ** PAIRING_SECRET_DIGITS)
    .toString()
    .padStart(PAIRING_SECRET_DIGITS, '0');
}

/** Build a code from a relay nameplate and a fresh secret. */
export function newPairingCode(nameplate: string): PairingCode {
  if (!isValidNameplate(nameplate)) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `bad nameplate from the relay`);
  return { nameplate, secret: generatePairingSecret() };
}

/** Display form: nameplate, then the secret in two groups of four: `42-7315-0286`. */
export function formatPairingCode(code: PairingCode): string {
  return `${code.nameplate}-${code.secret.slice(0, 4)}-${code.secret.slice(4)}`;
}

/** The CPace PRS: the secret's 8 ASCII digits. */
export function pairingSecretBytes(code: PairingCode): Uint8Array {
  if (!SECRET_PATTERN.test(code.secret)) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', 'the secret is not 8 digits');
  return new TextEncoder().encode(code.secret);
}

/**
 * Parse a typed code. Accepts `42-7315-0286`, `42 7315 0286`, `42-73150286`, surrounding
 * whitespace and typographic dashes; requires a separator after the nameplate.
 */
export function parsePairingCode(input: string): PairingCode {
  if (input.length > PAIRING_CODE_INPUT_MAX_CHARS) {
    throw malformed(`it is ${input.length} characters long; a code looks like 42-7315-0286`);
  }
  const text = input.trim();
  if (text.length === 0) throw malformed('it is empty; a code looks like 42-7315-0286');
  const chars = Array.from(text);

  let index = 0;
  while (index < chars.length && /^[0-9]$/.test(chars[index]!)) index++;
  const nameplate = chars.slice(0, index).join('');
  if (nameplate.length === 0) {
    throw malformed(`it must start with the nameplate number, found ${describeChar(chars[0]!)}; a code looks like 42-7315-0286`);
  }
  if (nameplate.length > NAMEPLATE_MAX_DIGITS) {
    throw malformed(`the nameplate "${nameplate}" has more than ${NAMEPLATE_MAX_DIGITS} digits; is the dash after it missing?`);
  }
  if (!isValidNameplate(nameplate)) throw malformed(`the nameplate "${nameplate}" must not start with 0`);
  if (index === chars.length) throw malformed(`the ${PAIRING_SECRET_DIGITS}-digit secret after "${nameplate}-" is missing`);
  if (!isSeparator(chars[index]!)) {
    throw malformed(`expected a dash after the nameplate "${nameplate}", found ${describeChar(chars[index]!)}`);
  }

  let secret = '';
  for (let position = index; position < chars.length; position++) {
    const char = chars[position]!;
    if (isSeparator(char)) continue;
    if (!/^[0-9]$/.test(char)) {
      const hint = LOOKALIKES[char] !== undefined ? ` (did you mean the digit ${LOOKALIKES[char]}?)` : '';
      throw malformed(`unexpected ${describeChar(char)} at position ${position + 1}${hint}; only digits, spaces and dashes`);
    }
    secret += char;
  }
  if (secret.length !== PAIRING_SECRET_DIGITS) {
    throw malformed(`the secret after "${nameplate}-" has ${secret.length} digits; it needs ${PAIRING_SECRET_DIGITS}`);
  }
  return { nameplate, secret };
}
