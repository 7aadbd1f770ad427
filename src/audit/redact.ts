/**
 * The one redaction module for logs and audit records (docs/design.md §6, §7; seeds/004 "Secret
 * redaction"; docs/audit.md "Redaction"). Everything logged or audited passes through here
 * first. All input is untrusted: request paths, query strings, headers and command lines come
 * from the remote client.
 *
 * Every family is keyed on a fixed prefix or a key name plus a length, never on a character
 * class alone, so ordinary text (hashes, names, base64 data) is left readable.
 *
 * No pattern can backtrack catastrophically: every quantifier that is followed by something
 * that can still fail is bounded, and adjacent quantified pieces use disjoint character
 * classes (so a failed attempt cannot be retried in many ways). An unbounded quantifier only
 * ends a pattern, where nothing after it can fail: an attempt that reaches it succeeds and
 * consumes what it scanned, so a long secret is redacted whole rather than cut at a bound.
 * Strings longer than REDACT_MAX_STRING_CHARS are replaced whole instead of scanned.
 */
import { REDACT_MAX_DEPTH, REDACT_MAX_STRING_CHARS } from '../limits.js';
import { redactArgv, redactCommandLine } from './redact-command.js';

/** What a redacted secret is replaced with. */
export const REDACTED = '[REDACTED]';

/** One family of secrets: an id (used by tests and docs/audit.md) and how it is scrubbed. */
export interface RedactionFamily {
  readonly id: string;
  readonly description: string;
  readonly apply: (text: string) => string;
}

/** A family given as one global regular expression and its replacement. */
function byPattern(id: string, description: string, pattern: RegExp, replacement: string): RedactionFamily {
  if (!pattern.global) throw new Error(`redaction pattern ${id} must be global`);
  return { id, description, apply: (text) => text.replace(pattern, replacement) };
}

/**
 * Secret words that name a secret at the END of any name, glued to a prefix with or without a
 * separator: `PGPASSWORD`, `MYSQLPASSWORD`, `VAULTTOKEN`, `db_password`, `x-api-key`. They are
 * long and specific enough that a name ending in one holds a secret; a name that only starts
 * with one (`password_policy`, `TOKEN_TTL`, `--token-file`) does not, and stays.
 */
const GLUED_WORDS = String.raw`password|passwd|passphrase|token|secret|api[-_]?key|access[-_]?key|secret[-_]?key|private[-_]?key`;
/**
 * `CREDENTIAL(S)` names a secret only as an upper-case environment name (`AWS_CREDENTIALS=`);
 * in lower case it is as often a kind or a path (`credentials=client-certificate`), and stays.
 */
const ENV_VALUE = String.raw`(?:"[^"\r\n]*"?|'[^'\r\n]*'?|[^\s'"&;]+)`;
const SECRET_ENV_ASSIGNMENT = new RegExp(String.raw`(?<![A-Za-z0-9_])([A-Za-z0-9_]{0,64}?(?:${GLUED_WORDS}))=${ENV_VALUE}`, 'gi');
const CREDENTIALS_ENV_ASSIGNMENT = new RegExp(String.raw`(?<![A-Za-z0-9_])([A-Z0-9_]{0,64}?CREDENTIALS?)=${ENV_VALUE}`, 'g');
/**
 * `PWD` and `PASS` name a secret only as the last `_` segment of a longer environment name
 * (`MYSQL_PWD=`, MySQL's own password variable; `DB_PASS=`, `SMTP_PASS=`): alone or glued they
 * are ordinary (`PWD=` and `OLDPWD=` are the shell's directories, `BYPASS=` a switch).
 */
const SEGMENT_ENV_ASSIGNMENT = new RegExp(String.raw`(?<![A-Za-z0-9_])([A-Za-z0-9]{1,64}(?:_[A-Za-z0-9]{1,64}){0,3}_(?:pwd|pass))=${ENV_VALUE}`, 'gi');
/**
 * A header or YAML-style line `Name: value` whose name ends in a secret word (`X-Vault-Token:
 * s.abc`, `Private-Token: glpat-...`, `password: hunter2`); at least one space after the colon,
 * so `scheme://token:...` and `secret:default/db` are not read as one.
 */
const SECRET_COLON_FIELD = new RegExp(String.raw`(?<![A-Za-z0-9_.-])([A-Za-z0-9_.-]{0,64}?(?:${GLUED_WORDS}):[ \t]{1,16})(?:"[^"\r\n]*"?|'[^'\r\n]*'?|[^\s'"&;]+)`, 'gi');
/** Secret words that name a secret only as a whole word segment: glued, they are ordinary (`--bypass`, `--compass`). */
const SEGMENT_WORDS = String.raw`pass(?:in|out)?`;
/** Up to three `word-` or `word_` segments in front of a segment word (`--key-passin`). */
const FLAG_PREFIX = String.raw`(?:[A-Za-z0-9]{1,32}[-_]){0,3}`;
/**
 * A flag name that carries a secret: `--password`, `-token`, `--client-secret`, `--pgpassword`,
 * `--vault-token`. The glued prefix is bounded and lazy: the name must end where the word does.
 */
const SECRET_FLAG_NAME = String.raw`--?(?:[A-Za-z0-9_.-]{0,96}?(?:${GLUED_WORDS})|${FLAG_PREFIX}(?:${SEGMENT_WORDS}))`;
const BARE_SECRET_FLAG = new RegExp(String.raw`^${SECRET_FLAG_NAME}$`, 'i');

/**
 * PEM private key blocks, found with a scanner instead of one regular expression: each BEGIN
 * line is matched once, the END line is searched once from there, and a block without an END
 * line (a key cut off mid-way) is redacted to the end of the text. Certificates and public
 * keys are not secrets and stay.
 */
const PEM_BEGIN = /-----BEGIN (?:[A-Z0-9]{1,16} ){0,4}PRIVATE KEY(?: BLOCK)?-----/g;
const PEM_END = /-----END (?:[A-Z0-9]{1,16} ){0,4}PRIVATE KEY(?: BLOCK)?-----/g;

function redactPrivateKeys(text: string): string {
  if (!text.includes('PRIVATE KEY')) return text;
  let out = '';
  let from = 0;
  // Each iteration consumes at least one BEGIN line, so the loop ends after at most
  // text.length / 30 iterations.
  for (;;) {
    PEM_BEGIN.lastIndex = from;
    const begin = PEM_BEGIN.exec(text);
    if (begin === null) break;
    PEM_END.lastIndex = begin.index + begin[0].length;
    const end = PEM_END.exec(text);
    out += text.slice(from, begin.index) + REDACTED;
    if (end === null) return out;
    from = end.index + end[0].length;
  }
  return out + text.slice(from);
}

/**
 * The families, in the order they are applied. Headers and structured forms come first so the
 * whole value is replaced; bare token shapes then catch what arrives without a label.
 */
export const REDACTION_FAMILIES: readonly RedactionFamily[] = [
  {
    id: 'private-key',
    description: 'PEM private key blocks (`-----BEGIN ... PRIVATE KEY-----` to the END line, or to the end of the text)',
    apply: redactPrivateKeys,
  },
  byPattern(
    'auth-header',
    '`Authorization`, `Proxy-Authorization`, `Cookie`, `Set-Cookie` header values (`Name: value`, `name=value`, `"name":"value"`)',
    /\b(authorization|proxy-authorization|cookie|set-cookie)(["']?[ \t]{0,16}[:=][ \t]{0,16}["']?)[^\r\n"']+/gi,
    `$1$2${REDACTED}`,
  ),
  byPattern(
    'url-credentials',
    'the password in URL credentials `scheme://user:password@host` (the user name stays)',
    /\b([a-z][a-z0-9+.-]{0,31}:\/\/[^\s:/?#@'"]{0,256}):[^\s/?#@'"]{1,1024}@/gi,
    `$1:${REDACTED}@`,
  ),
  byPattern(
    'jwt',
    'JSON Web Tokens: three base64url segments, the first starting `eyJ`',
    /\beyJ[A-Za-z0-9_-]{8,1024}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g,
    REDACTED,
  ),
  byPattern(
    'aws-access-key-id',
    'AWS access key ids: `AKIA`/`ASIA`/`ABIA`/`ACCA` and 16 upper-case letters or digits',
    /\b(AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b/g,
    `$1${REDACTED}`,
  ),
  byPattern(
    'aws-secret-access-key',
    'AWS secret keys assigned to a `*_SECRET_ACCESS_KEY` / `SecretAccessKey` name',
    /\b([A-Za-z0-9_]{0,64}?secret_?access_?key)(["']?[ \t]{0,16}[:=][ \t]{0,16}["']?)[A-Za-z0-9/+=]{16,}/gi,
    `$1$2${REDACTED}`,
  ),
  byPattern(
    'azure-account-key',
    'Azure connection-string keys: `AccountKey=` and `SharedAccessKey=`',
    /\b(AccountKey|SharedAccessKey)=[^;\s'"]+/gi,
    `$1=${REDACTED}`,
  ),
  byPattern(
    'azure-sas-signature',
    'Azure SAS signatures: `sig=` at the start of a query or after `?`, `&` or `;`',
    /(^|[?&;])sig=[^&\s'"#;]+/gi,
    `$1sig=${REDACTED}`,
  ),
  byPattern(
    'google-api-key',
    'Google API keys: `AIza` and at least 35 characters',
    /\bAIza[0-9A-Za-z_-]{35,}/g,
    `AIza${REDACTED}`,
  ),
  byPattern(
    'google-oauth-token',
    'Google OAuth access tokens: `ya29.` and at least 20 characters',
    /\bya29\.[0-9A-Za-z_-]{20,}/g,
    `ya29.${REDACTED}`,
  ),
  byPattern(
    'stripe',
    'Stripe secret and restricted keys: `sk_live_`, `sk_test_`, `rk_live_`, `rk_test_` and at least 16 characters',
    /\b([sr]k_(?:live|test)_)[0-9A-Za-z]{16,}/g,
    `$1${REDACTED}`,
  ),
  byPattern(
    'gitlab',
    'GitLab personal access tokens: `glpat-` and at least 20 characters',
    /\bglpat-[0-9A-Za-z_-]{20,}/g,
    `glpat-${REDACTED}`,
  ),
  byPattern('npm', 'npm tokens: `npm_` and at least 36 letters or digits', /\bnpm_[A-Za-z0-9]{36,}/g, `npm_${REDACTED}`),
  byPattern('pypi', 'PyPI tokens: `pypi-` and at least 50 characters', /\bpypi-[A-Za-z0-9_-]{50,}/g, `pypi-${REDACTED}`),
  byPattern(
    'github',
    'GitHub tokens: `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_` and at least 36 characters',
    /\b(gh[pousr]_)[A-Za-z0-9]{36,}/g,
    `$1${REDACTED}`,
  ),
  byPattern(
    'github-fine-grained',
    'GitHub fine-grained tokens: `github_pat_` and at least 22 characters',
    /\bgithub_pat_[A-Za-z0-9_]{22,}/g,
    `github_pat_${REDACTED}`,
  ),
  byPattern(
    'anthropic',
    'Anthropic API keys: `sk-ant-` and at least 32 characters',
    /\bsk-ant-[A-Za-z0-9_-]{32,}/g,
    `sk-ant-${REDACTED}`,
  ),
  byPattern(
    'openai',
    'OpenAI API keys: `sk-`, `sk-proj-`, `sk-svcacct-`, `sk-admin-` and at least 32 characters',
    /\b(sk-(?:proj-|svcacct-|admin-)?)[A-Za-z0-9_-]{32,}/g,
    `$1${REDACTED}`,
  ),
  byPattern(
    'huggingface',
    'Hugging Face tokens: `hf_` and at least 34 letters or digits',
    /\bhf_[A-Za-z0-9]{34,}/g,
    `hf_${REDACTED}`,
  ),
  byPattern(
    'slack-token',
    'Slack tokens: `xoxa-`, `xoxb-`, `xoxp-`, `xoxr-`, `xoxs-` and at least 10 characters',
    /\b(xox[abprs]-)[A-Za-z0-9-]{10,}/g,
    `$1${REDACTED}`,
  ),
  byPattern(
    'slack-webhook',
    'Slack incoming-webhook URLs: the path after `hooks.slack.com/services/` (or `workflows/`, `triggers/`)',
    /(hooks\.slack\.com\/(?:services|workflows|triggers)\/)[A-Za-z0-9_/+-]{8,}/gi,
    `$1${REDACTED}`,
  ),
  byPattern(
    'kubepair-relay-token',
    'kubepair relay tokens: `kprt_` and 43 base64url characters',
    /\bkprt_[A-Za-z0-9_-]{43,}/g,
    `kprt_${REDACTED}`,
  ),
  {
    id: 'command-secret',
    description:
      'secrets well-known tools take positionally or after a one-letter flag, in a command line read as shell words (redact-command.ts): `mysql -pX`, `sshpass -p X`, `redis-cli -a X`, `curl -u user:X`, `vault login X`, `htpasswd -b FILE USER X`, ...',
    apply: (text) => redactCommandLine(text),
  },
  byPattern(
    'secret-flag',
    'command-line flags naming a secret, long or single-dash, `--password=VALUE`, `-token=VALUE`, `--password VALUE` (a next token not starting with `-`); OpenSSL-style values keep `pass:` (`-passin pass:VALUE`), and `env:NAME`, `file:PATH`, `fd:N`, `stdin` (where the secret is, not the secret) stay',
    new RegExp(
      String.raw`(?<![A-Za-z0-9_-])(${SECRET_FLAG_NAME})(=|[ \t]{1,16}(?!-))(?!(?:env|file|fd):|stdin(?![^\s"']))(pass:)?(?:"[^"\r\n]*"?|'[^'\r\n]*'?|[^\s"']+)`,
      'gi',
    ),
    `$1$2$3${REDACTED}`,
  ),
  byPattern(
    'secret-query-param',
    'query parameters naming a secret (`access_token=`, `token=`, `password=`, `client_secret=`, `api_key=`, `key=`, `code=`, `X-Amz-Signature=`, `X-Amz-Credential=`, `X-Amz-Security-Token=`, `X-Goog-Signature=`, ...) at the start of a query or after `?`, `&` or `;`',
    /(^|[?&;])(access_token|id_token|refresh_token|token|password|passwd|secret|client_secret|api_key|apikey|key|code|signature|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential)=[^&\s'"#]+/gi,
    `$1$2=${REDACTED}`,
  ),
  {
    id: 'secret-env-assignment',
    description:
      'assignments `NAME=VALUE` (environment, query or config style, any case) whose name ends in `PASSWORD`, `PASSWD`, `PASSPHRASE`, `SECRET`, `TOKEN`, `API_KEY`, `APIKEY`, `ACCESS_KEY`, `SECRET_KEY` or `PRIVATE_KEY`, glued to a prefix or not (`PGPASSWORD=...`, `VAULTTOKEN=...`, `db_password=...`, `x-api-key=...`), upper-case names ending in `CREDENTIAL(S)`, and names whose last `_` segment is `PWD` or `PASS` (`MYSQL_PWD=...`, `DB_PASS=...`); a quoted value is replaced whole',
    apply: (text) =>
      text
        .replace(SECRET_ENV_ASSIGNMENT, `$1=${REDACTED}`)
        .replace(CREDENTIALS_ENV_ASSIGNMENT, `$1=${REDACTED}`)
        .replace(SEGMENT_ENV_ASSIGNMENT, `$1=${REDACTED}`),
  },
  {
    id: 'secret-colon-field',
    description:
      'header and YAML-style fields `Name: value` whose name ends in a secret word (`X-Vault-Token: ...`, `Private-Token: ...`, `password: ...`, `db_private_key: ...`); a quoted value is replaced whole',
    apply: (text) => text.replace(SECRET_COLON_FIELD, `$1${REDACTED}`),
  },
  byPattern(
    'secret-json-field',
    'JSON text inside a string whose field name ends in a secret word (`"password": "..."`, `"client_secret": "..."`, `"PGPASSWORD": "..."`)',
    new RegExp(String.raw`("[A-Za-z0-9_.-]{0,64}?(?:${GLUED_WORDS}|private[_-]?key|credentials?)"[ \t]{0,16}:[ \t]{0,16})"(?:[^"\\\r\n]|\\.)*"?`, 'gi'),
    `$1"${REDACTED}"`,
  ),
  byPattern(
    'bearer',
    'bearer tokens: `Bearer` and at least 8 token characters',
    /\b(Bearer)[ \t]{1,16}[A-Za-z0-9._~+/=-]{8,}/gi,
    `$1 ${REDACTED}`,
  ),
  byPattern(
    'basic',
    'Basic credentials: `Basic` and at least 8 base64 characters',
    /\b(Basic)[ \t]{1,16}[A-Za-z0-9+/=]{8,}/gi,
    `$1 ${REDACTED}`,
  ),
];

/** What a string over REDACT_MAX_STRING_CHARS becomes: nothing of it is kept. */
function oversizeMarker(length: number): string {
  return `[REDACTED: ${length} characters, over the ${REDACT_MAX_STRING_CHARS}-character redaction limit]`;
}

/**
 * Text no family can change, so the scan of about thirty patterns is skipped: most fields of an
 * audit record (verbs, resources, names, hashes, times) are such text, and scanning them was
 * about half the cost of writing a record (docs/performance.md "kubectl get through proxy mode").
 * Every family needs a character none of these classes has — an upper-case letter other than
 * `T` and `Z`, punctuation beyond `:.-`, a space, or a letter that no hexadecimal digit is
 * (every secret word and token prefix has one) — except AWS key ids (`ACCA` and 16 upper-case
 * letters or digits, 20 characters), which the length bound of the mixed-case class excludes.
 * A family added later must keep this true; test/unit/audit/redact.test.ts checks it against
 * every family's positive cases and generated text.
 */
const PLAIN_TEXT: readonly RegExp[] = [/^[a-z0-9]*$/, /^[A-Za-z0-9]{0,19}$/, /^[0-9a-fTZ:.-]*$/];

/** True when no redaction family can change `text` (see PLAIN_TEXT). */
export function isPlainText(text: string): boolean {
  return PLAIN_TEXT.some((pattern) => pattern.test(text));
}

/** Redact secrets inside one string. Strings over the size limit are replaced whole. */
export function redactString(text: string): string {
  if (text.length > REDACT_MAX_STRING_CHARS) return oversizeMarker(text.length);
  if (isPlainText(text)) return text;
  let out = text;
  for (const family of REDACTION_FAMILIES) out = family.apply(out);
  return out;
}

/** Key names (normalized: lower case, no `-`, `_`, `.`) whose values are always secrets. */
const SECRET_KEY_EXACT = new Set(['authorization', 'proxyauthorization', 'cookie', 'setcookie', 'sig']);
/** Endings of normalized key names whose values are always secrets (`access_token`, `dbPassword`). */
const SECRET_KEY_ENDINGS = [
  'password',
  'passwd',
  'passphrase',
  'secret',
  'token',
  'apikey',
  'privatekey',
  'accesskey',
  'secretkey',
  'accountkey',
  'credential',
  'credentials',
  'signature',
] as const;
/** Extra query parameter names that carry secrets but are ordinary field names in objects. */
const SECRET_QUERY_EXACT = new Set(['key', 'code']);

function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[-_.]/g, '');
}

/** True when a field or header named `key` holds a secret (`Authorization`, `client_secret`, `dbPassword`). */
export function isSecretKeyName(key: string): boolean {
  if (key.length > 256) return false;
  const normalized = normalizeKey(key);
  return SECRET_KEY_EXACT.has(normalized) || SECRET_KEY_ENDINGS.some((ending) => normalized.endsWith(ending));
}

/** True when `arg` is a flag naming a secret with its value in the next argument (`--password`). */
export function isBareSecretFlag(arg: string): boolean {
  return arg.length <= 160 && BARE_SECRET_FLAG.test(arg);
}

/**
 * What the argument after a bare secret flag becomes: OpenSSL-style `env:NAME`, `file:PATH`,
 * `fd:N` and `stdin` say where the secret is and stay (as in the `secret-flag` family);
 * `pass:SECRET` keeps its `pass:`; anything else is replaced whole.
 */
function blankFlagValue(value: string): string {
  if (/^(?:env|file|fd):/i.test(value) || value.toLowerCase() === 'stdin') return redactString(value);
  return /^pass:/i.test(value) ? `${value.slice(0, 5)}${REDACTED}` : REDACTED;
}

/** The value a secret key's value is replaced with; booleans and null carry no secret and stay. */
function blankSecret(value: unknown): unknown {
  return value === null || value === undefined || typeof value === 'boolean' ? value : REDACTED;
}

const UTF8 = new TextDecoder('utf-8', { fatal: false });

/**
 * Redact secrets in any JSON-like value: strings are scrubbed, object keys are scrubbed and
 * the values of secret keys blanked, an argument following a bare secret flag in an array is
 * blanked, bytes are decoded and scrubbed, and nesting deeper than REDACT_MAX_DEPTH is
 * replaced. The result is plain JSON data (bigints become strings).
 */
export function redactValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactString(value);
  if (typeof value === 'bigint') return value.toString();
  if (value === null || typeof value !== 'object') return value;
  if (depth >= REDACT_MAX_DEPTH) return REDACTED;
  if (value instanceof Uint8Array) return redactString(UTF8.decode(value.subarray(0, REDACT_MAX_STRING_CHARS * 4 + 1)));
  if (value instanceof Error) return { name: redactString(value.name), message: redactString(value.message) };
  if ('toJSON' in value && typeof value.toJSON === 'function') {
    return redactValue((value as { toJSON: () => unknown }).toJSON(), depth + 1);
  }
  if (Array.isArray(value)) {
    const items: readonly unknown[] = value;
    const argv = items.every((item) => typeof item === 'string') ? redactArgv(items) : undefined;
    return items.map((item, index) => {
      const before = index > 0 ? items[index - 1] : undefined;
      if (typeof before === 'string' && typeof item === 'string' && isBareSecretFlag(before)) return blankFlagValue(item);
      return redactValue(argv?.[index] ?? item, depth + 1);
    });
  }
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    out[redactString(key)] = isSecretKeyName(key) ? blankSecret(item) : redactValue(item, depth + 1);
  }
  return out;
}

/** Decode one query component (`+` is a space); undecodable text is scanned as it is. */
function decodeQueryComponent(raw: string): string {
  const spaced = raw.replaceAll('+', ' ');
  try {
    return decodeURIComponent(spaced);
  } catch (err) {
    if (err instanceof URIError) return spaced;
    throw err;
  }
}

/** Encode a redacted component for the query again, keeping the REDACTED markers readable. */
function encodeRedacted(text: string): string {
  return encodeURIComponent(text).replaceAll(encodeURIComponent(REDACTED), REDACTED);
}

/**
 * The `command` parameters of a query, in order, read as one argv (how pods/exec carries the
 * command): the pieces (by index) in which redact-command.ts found a secret, with their new value.
 */
function execArgv(pieces: readonly string[]): Map<number, string> {
  const at: number[] = [];
  const words: string[] = [];
  pieces.forEach((piece, index) => {
    const eq = piece.indexOf('=');
    if (eq < 0 || decodeQueryComponent(piece.slice(0, eq)) !== 'command') return;
    at.push(index);
    words.push(decodeQueryComponent(piece.slice(eq + 1)));
  });
  const changed = new Map<number, string>();
  if (words.length === 0) return changed;
  redactArgv(words).forEach((word, i) => {
    if (word !== words[i]) changed.set(at[i]!, word);
  });
  return changed;
}

/**
 * Redact a URL query string (with or without its leading `?`) for display in an audit record.
 * Parameters whose name is a secret (`token`, `access_token`, `X-Amz-Signature`, `sig`, `key`,
 * `code`, ...) are blanked; every other name and value is decoded and scrubbed like any string;
 * a repeated parameter that follows a bare secret flag (`command=--password&command=hunter2`,
 * as `kubectl exec` sends its argv) is blanked, and the `command` parameters together are read
 * as an argv for the secrets well-known tools take (`command=mysql&command=-phunter2`). The
 * rest keeps its original encoding.
 */
export function redactQuery(query: string): string {
  if (query.length > REDACT_MAX_STRING_CHARS) return oversizeMarker(query.length);
  const lead = query.startsWith('?') ? '?' : '';
  const pieces = query.slice(lead.length).split('&');
  const argv = execArgv(pieces);
  let previous: { name: string; value: string } | undefined;
  const out = pieces.map((piece, index) => {
    const eq = piece.indexOf('=');
    const rawName = eq < 0 ? piece : piece.slice(0, eq);
    const rawValue = eq < 0 ? undefined : piece.slice(eq + 1);
    const name = decodeQueryComponent(rawName);
    const value = rawValue === undefined ? undefined : decodeQueryComponent(rawValue);
    const redactedName = redactString(name);
    const shownName = redactedName === name ? redactString(rawName) : encodeRedacted(redactedName);
    const follows = previous !== undefined && previous.name === name && isBareSecretFlag(previous.value);
    previous = value === undefined ? undefined : { name, value };
    if (rawValue === undefined || value === undefined) return shownName;
    const normalized = normalizeKey(name);
    if (follows) return `${shownName}=${encodeRedacted(blankFlagValue(value))}`;
    if (isSecretKeyName(name) || SECRET_QUERY_EXACT.has(normalized)) return `${shownName}=${REDACTED}`;
    const argument = argv.get(index);
    if (argument !== undefined) return `${shownName}=${encodeRedacted(redactString(argument))}`;
    const redactedValue = redactString(value);
    if (redactedValue !== value) return `${shownName}=${encodeRedacted(redactedValue)}`;
    // Scan the encoded form too, in case decoding hid a shape the raw text shows.
    return `${shownName}=${redactString(rawValue)}`;
  });
  return lead + out.join('&');
}
