/**
 * Command-aware redaction (docs/audit.md "Redaction", family `command-secret`): secrets that
 * well-known tools take positionally or after a one-letter flag, which no name or token shape
 * gives away: `mysql -phunter2`, `sshpass -p hunter2`, `redis-cli -a hunter2`,
 * `curl -u user:hunter2`, `vault login TOKEN`, `htpasswd -b FILE USER hunter2`.
 *
 * Two entry points, one rule set:
 * - `redactArgv`: an argv, element by element, as an exec request carries it (the `command`
 *   query parameters of pods/exec), so `-p` followed by the next element is understood;
 * - `redactCommandLine`: a typed line or a `sh -c` script, split into words the way a shell
 *   would at its simplest: whitespace, `;` `&` `|` `(` `)` and backquotes between commands,
 *   `'...'`, `"..."` and `\x` quoting inside words. No expansion, no here-documents.
 *
 * The program is matched by basename (`/usr/bin/mysql`), also behind wrappers (`sudo`, `env`,
 * `timeout`, `exec`, `nice`, `nohup`, `time`, `command`, `doas`, `stdbuf`, `busybox`, leading
 * `NAME=value` assignments, `sshpass`, `kubectl exec ... --` and the remote command of `ssh`),
 * and a `sh -c SCRIPT` (or `env -S`) script is read as a line.
 * Only the secret is replaced (`-p[REDACTED]`, `user:[REDACTED]`, `pass:[REDACTED]`); the rest
 * stays as it was. Unknown programs are left alone.
 *
 * All input is untrusted and work is linear: each word is looked at a bounded number of times,
 * commands nest at most COMMAND_MAX_NESTING deep (each level reads only its own word), and
 * no regular expression here has a quantifier that can backtrack.
 */

/** What a redacted secret is replaced with (the same marker as redact.ts). */
const REDACTED = '[REDACTED]';

/**
 * Deepest nesting of commands read: a `sh -c` script, the command `sshpass`, `ssh` or
 * `kubectl exec --` runs, each count one level; deeper commands are left to the other families.
 */
export const COMMAND_MAX_NESTING = 8;

/** How a flag's value is cut: the redacted value, or undefined when it holds no secret. */
type SecretValue = (value: string) => string | undefined;

/** The whole value is the secret (an empty value is not: `-N ''` asks for no passphrase). */
const whole: SecretValue = (value) => (value === '' ? undefined : REDACTED);

/** `user:secret` and `user%secret`: the name stays; without the separator there is no secret (the tool prompts). */
function afterSeparator(separator: string): SecretValue {
  return (value) => {
    const at = value.indexOf(separator);
    return at < 0 || at === value.length - 1 ? undefined : value.slice(0, at + 1) + REDACTED;
  };
}

/** OpenSSL pass phrase arguments: `pass:SECRET` is one; `env:NAME`, `file:PATH`, `fd:N`, `stdin` name where it is. */
const opensslPass: SecretValue = (value) => (value.startsWith('pass:') && value.length > 5 ? `pass:${REDACTED}` : undefined);

/** How a secret-carrying flag takes its value. */
interface SecretFlag {
  readonly value: SecretValue;
  /** The value may be glued (`-pX` for a one-letter flag, `--flag=X` or `-flag=X` for a word). */
  readonly glued: boolean;
  /** The value may be the next argument. */
  readonly separate: boolean;
  /** A next argument starting with `-` is a flag, not the value (the tool prompts instead). */
  readonly notDash?: boolean;
}

const both = (value: SecretValue = whole): SecretFlag => ({ value, glued: true, separate: true });
const gluedOnly = (value: SecretValue = whole): SecretFlag => ({ value, glued: true, separate: false });
const separateOnly = (value: SecretValue = whole): SecretFlag => ({ value, glued: false, separate: true });

/** What a tool's arguments look like, as far as finding its secrets needs. */
interface ToolRules {
  /** One-letter flags carrying a secret (`p` for `-p`). */
  readonly short?: Readonly<Record<string, SecretFlag>>;
  /** Long flags (`--password`) and single-dash word flags (`-storepass`), spelled in full. */
  readonly long?: Readonly<Record<string, SecretFlag>>;
  /** One-letter flags without a value that may come first in a cluster (`-sSu user:x`). */
  readonly booleans?: string;
  /** Flags whose value is the next argument (skipped, so a value is never read as a flag or a positional). */
  readonly valueFlags?: readonly string[];
  /** Positional arguments: which of them (by index among positionals) are secrets, given the flags seen. */
  readonly positional?: (positionals: readonly string[], flags: ReadonlySet<string>) => ReadonlyMap<number, string>;
  /** The first positional must be this subcommand for any rule to apply (`docker login`). */
  readonly subcommand?: string;
  /** The first positional starts another command (`sshpass -p X ssh host`). */
  readonly wraps?: boolean;
}

const MYSQL: ToolRules = {
  short: { p: gluedOnly() },
  long: { '--password': both(), '--pass': both() },
  booleans: 'BCcEHNnqrstvX',
  valueFlags: ['-u', '-h', '-P', '-S', '-D', '-e'],
};
const MONGO_PASSWORD: SecretFlag = { value: whole, glued: true, separate: true, notDash: true };
const MONGO: ToolRules = {
  short: { p: MONGO_PASSWORD },
  long: { '--password': MONGO_PASSWORD },
  valueFlags: ['-u', '--username', '--host', '--port', '--eval', '--authenticationDatabase', '--authenticationMechanism'],
};
const LDAP: ToolRules = { short: { w: both() }, booleans: 'xZWnvMLc', valueFlags: ['-D', '-H', '-h', '-b', '-s', '-y', '-f', '-p', '-o', '-e', '-E', '-Y', '-U', '-R', '-X', '-a', '-l', '-z'] };
const LDAP_PASSWD: ToolRules = { short: { w: both(), s: both(), a: both() }, booleans: 'xZWnvASc', valueFlags: ['-D', '-H', '-h', '-y', '-t', '-T', '-p', '-o', '-e', '-E', '-Y', '-U', '-R', '-X'] };
const CONTAINER_LOGIN: ToolRules = {
  subcommand: 'login',
  short: { p: both() },
  long: { '--password': both() },
  valueFlags: ['-u', '--username', '--config', '-c', '--context', '-H', '--host', '-l', '--log-level', '--authfile'],
};
const VAULT_VALUE_FLAGS = ['method', 'path', 'address', 'namespace', 'ns', 'format', 'field', 'header', 'ca-cert', 'ca-path', 'client-cert', 'client-key', 'tls-server-name', 'wrap-ttl', 'mfa', 'agent-address'];
const VAULT: ToolRules = {
  subcommand: 'login',
  valueFlags: VAULT_VALUE_FLAGS.flatMap((name) => [`-${name}`, `--${name}`]),
  // `vault login TOKEN`, `vault login token=X`; `vault login -` reads the token from stdin,
  // other `key=value` pairs are method settings (`username=ana`; `password=` is a secret name
  // the name families catch).
  positional: (positionals) => {
    const out = new Map<number, string>();
    positionals.forEach((word, index) => {
      if (word.startsWith('token=') && word.length > 6) out.set(index, `token=${REDACTED}`);
      else if (index === 0 && word !== '-' && !word.includes('=')) out.set(index, REDACTED);
    });
    return out;
  },
};
const HTPASSWD: ToolRules = {
  valueFlags: ['-C', '-r'],
  // `-b FILE USER SECRET`, or `-nb USER SECRET` (no file); without -b the tool prompts.
  positional: (positionals, flags) => {
    if (!flags.has('b')) return new Map();
    const index = flags.has('n') ? 1 : 2;
    return index < positionals.length ? new Map([[index, REDACTED]]) : new Map();
  },
};
const SMBCLIENT: ToolRules = {
  short: { U: both(afterSeparator('%')) },
  long: { '--user': both(afterSeparator('%')), '--password': both() },
  booleans: 'NgkPeBS',
  valueFlags: ['-W', '-I', '-p', '-m', '-n', '-s', '-d', '-l', '-A', '-t', '-c', '-D', '-T', '-O', '-R', '-M', '-L', '--workgroup', '--port', '--command', '--directory', '--authentication-file'],
  // `smbclient //server/share SECRET`: the password as the second positional.
  positional: (positionals) => (positionals.length >= 2 && positionals[1] !== '' ? new Map([[1, REDACTED]]) : new Map()),
};
const KEYTOOL_PASSWORDS = ['storepass', 'keypass', 'srcstorepass', 'deststorepass', 'srckeypass', 'destkeypass', 'new'];
const KEYTOOL: ToolRules = { long: Object.fromEntries(KEYTOOL_PASSWORDS.map((name) => [`-${name}`, separateOnly()])) };
const OPENSSL: ToolRules = {
  long: {
    ...Object.fromEntries(['-pass', '-passin', '-passout', '-password', '-srcpass', '-destpass', '-passphrase'].map((flag) => [flag, separateOnly(opensslPass)])),
    '-k': separateOnly(),
    '-K': separateOnly(),
  },
};
const CURL: ToolRules = {
  short: { u: both(afterSeparator(':')), U: both(afterSeparator(':')), E: both(afterSeparator(':')) },
  long: {
    '--user': both(afterSeparator(':')),
    '--proxy-user': both(afterSeparator(':')),
    '--cert': both(afterSeparator(':')),
    '--proxy-cert': both(afterSeparator(':')),
    '--oauth2-bearer': both(),
    '--tlspassword': both(),
    '--proxy-tlspassword': both(),
  },
  booleans: 'sSfLkvIiGgjJlnNOqRZ0123456#',
  valueFlags: ['-H', '--header', '-d', '--data', '-X', '--request', '-o', '--output', '-A', '--user-agent', '-e', '--referer', '-x', '--proxy', '-w', '--write-out', '-T', '--upload-file', '-F', '--form', '-b', '--cookie', '-c', '--cookie-jar', '-m', '--max-time', '-r', '--range', '-K', '--config'],
};
const REDIS_CLI: ToolRules = {
  short: { a: separateOnly() },
  long: { '--pass': both() },
  valueFlags: ['-h', '-p', '-s', '-n', '-u', '--user', '-r', '-i', '--tls-cert', '--tls-key', '--cacert'],
};
const SSHPASS: ToolRules = { short: { p: both() }, booleans: 'v', valueFlags: ['-f', '-d', '-P'], wraps: true };
const SSH_KEYGEN: ToolRules = { short: { N: both(), P: both() }, booleans: 'qvyBlLHDpAUceiIku', valueFlags: ['-t', '-b', '-f', '-C', '-a', '-Z', '-m', '-O', '-n', '-V', '-z', '-s', '-I', '-Y', '-E', '-F', '-R', '-r', '-w'] };

/** The tools, by basename. */
const TOOLS: ReadonlyMap<string, ToolRules> = new Map<string, ToolRules>([
  ...['mysql', 'mariadb', 'mysqldump', 'mysqladmin', 'mysqlimport', 'mysqlshow', 'mysqlcheck', 'mysqlpump', 'mariadb-dump', 'mariadb-admin', 'mariadb-import', 'mariadb-show', 'mariadb-check'].map((name) => [name, MYSQL] as const),
  ...['mongo', 'mongosh', 'mongodump', 'mongorestore', 'mongoexport', 'mongoimport'].map((name) => [name, MONGO] as const),
  ...['ldapsearch', 'ldapmodify', 'ldapadd', 'ldapdelete', 'ldapmodrdn', 'ldapwhoami', 'ldapcompare', 'ldapexop'].map((name) => [name, LDAP] as const),
  ['ldappasswd', LDAP_PASSWD],
  ...['docker', 'podman', 'nerdctl', 'buildah', 'skopeo'].map((name) => [name, CONTAINER_LOGIN] as const),
  ['vault', VAULT],
  ['bao', VAULT],
  ['htpasswd', HTPASSWD],
  ['smbclient', SMBCLIENT],
  ['keytool', KEYTOOL],
  ['openssl', OPENSSL],
  ['curl', CURL],
  ['redis-cli', REDIS_CLI],
  ['valkey-cli', REDIS_CLI],
  ['sshpass', SSHPASS],
  ['ssh-keygen', SSH_KEYGEN],
]);

/** Shells whose `-c SCRIPT` is read as a typed line. */
const SHELLS = new Set(['sh', 'bash', 'dash', 'ash', 'zsh', 'ksh', 'mksh', 'busybox-sh']);
/** Shell words that put the next word in command position. */
const KEYWORDS = new Set(['!', '{', 'if', 'then', 'else', 'elif', 'do', 'while', 'until', 'builtin']);

/** The basenames of the tools known here, for the cheap test before any word is split (wrappers need no test: the tool after them is named too). */
export const COMMAND_TOOL_NAMES: readonly string[] = [...TOOLS.keys()];
const TOOL_HINT = new RegExp(
  String.raw`(?:^|[^A-Za-z0-9_.-])(?:${[...COMMAND_TOOL_NAMES].sort((a, b) => b.length - a.length).map((name) => name.replace(/[.-]/g, '\\$&')).join('|')})(?:$|[^A-Za-z0-9_.-])`,
);

/** True when `text` names a known tool at all (a word equal to one, a path ending in one). */
export function mentionsCommandTool(text: string): boolean {
  return TOOL_HINT.test(text);
}

/** Counts the work done, for the tests' bound on adversarial input. */
export interface CommandWork {
  steps: number;
}

function basename(word: string): string {
  const slash = word.lastIndexOf('/');
  return slash < 0 ? word : word.slice(slash + 1);
}

const ASSIGNMENT = /^[A-Za-z_][A-Za-z0-9_]{0,255}=/;

/** Wrappers, by basename, and their flags that take a value in the next argument (a Map: a word is never looked up on a prototype). */
const WRAPPER_VALUE_FLAGS: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  ['sudo', new Set(['-u', '-g', '-C', '-D', '-h', '-p', '-r', '-t', '-T', '-U', '--user', '--group', '--chdir', '--host', '--prompt', '--role', '--type', '--close-from', '--other-user', '--command-timeout'])],
  ['doas', new Set(['-u', '-C'])],
  ['env', new Set(['-u', '-C', '--unset', '--chdir'])],
  ['timeout', new Set(['-s', '-k', '--signal', '--kill-after'])],
  ['exec', new Set(['-a'])],
  ['nice', new Set(['-n', '--adjustment'])],
  ['command', new Set<string>()],
  ['time', new Set<string>()],
  ['nohup', new Set<string>()],
  ['stdbuf', new Set(['-i', '-o', '-e'])],
]);

/**
 * The secrets in one simple command (`words[from..]`, no operators in it): a map from word
 * index to the word as it is recorded.
 */
function scanCommand(words: readonly string[], from: number, depth: number, work: CommandWork, out: Map<number, string>): void {
  if (depth >= COMMAND_MAX_NESTING) return;
  let i = from;
  // Each round of this loop consumes at least one word.
  while (i < words.length) {
    work.steps++;
    const word = words[i]!;
    if (ASSIGNMENT.test(word) || KEYWORDS.has(word)) {
      i++;
      continue;
    }
    const name = basename(word);
    const wrapper = WRAPPER_VALUE_FLAGS.get(name);
    if (wrapper !== undefined) {
      i = skipWrapperOptions(words, i + 1, name, wrapper, depth, work, out);
      if (name === 'timeout' && i < words.length) i++; // the duration
      continue;
    }
    if (name === 'kubectl' || name === 'oc') {
      // `kubectl exec POD -- CMD ARGS`: the command after the first `--`.
      const dashes = words.indexOf('--', i + 1);
      if (dashes >= 0) scanCommand(words, dashes + 1, depth + 1, work, out);
      return;
    }
    if (name === 'ssh') {
      sshCommand(words, i + 1, depth, work, out);
      return;
    }
    if (name === 'busybox') {
      i++;
      continue;
    }
    if (SHELLS.has(name)) {
      shellScript(words, i + 1, depth, work, out);
      return;
    }
    const rules = TOOLS.get(name);
    if (rules !== undefined) scanTool(words, i + 1, rules, depth, work, out);
    return;
  }
}

/** Past a wrapper's own options (`sudo -u root`, `env -i A=b`); `env -S 'CMD ARGS'` is read as a line. Returns the command's index. */
function skipWrapperOptions(words: readonly string[], from: number, name: string, valueFlags: ReadonlySet<string>, depth: number, work: CommandWork, out: Map<number, string>): number {
  let i = from;
  while (i < words.length) {
    work.steps++;
    const word = words[i]!;
    if (word === '--') return i + 1;
    if (!word.startsWith('-') || word === '-') return i;
    if (name === 'env' && (word === '-S' || word === '--split-string') && i + 1 < words.length) {
      redactScriptWord(words, i + 1, depth, work, out);
      return words.length;
    }
    i += valueFlags.has(word) ? 2 : 1;
  }
  return i;
}

const SSH_VALUE_FLAGS = new Set(['-p', '-i', '-l', '-o', '-F', '-J', '-L', '-R', '-D', '-b', '-B', '-c', '-e', '-E', '-I', '-m', '-O', '-Q', '-S', '-W', '-w', '-P']);

/** `ssh [options] HOST CMD...`: the remote command, as words, or one word holding a script. */
function sshCommand(words: readonly string[], from: number, depth: number, work: CommandWork, out: Map<number, string>): void {
  const host = firstOperand(words, from, SSH_VALUE_FLAGS, work);
  if (host === undefined || host + 1 >= words.length) return;
  if (host + 2 === words.length && /\s/.test(words[host + 1]!)) redactScriptWord(words, host + 1, depth, work, out);
  else scanCommand(words, host + 1, depth + 1, work, out);
}

/** `sh [options] -c SCRIPT`: the script is the first operand after the options; it is read as a typed line. */
function shellScript(words: readonly string[], from: number, depth: number, work: CommandWork, out: Map<number, string>): void {
  let command = false;
  for (let i = from; i < words.length; i++) {
    work.steps++;
    const word = words[i]!;
    if (word === '--' || word === '-') {
      if (command && i + 1 < words.length) redactScriptWord(words, i + 1, depth, work, out);
      return;
    }
    if (word.startsWith('--')) {
      if (word === '--rcfile' || word === '--init-file') i++;
      continue;
    }
    if (word.startsWith('-') || word.startsWith('+')) {
      if (word.slice(1).includes('c')) command = true;
      if (word.slice(1) === 'o') i++;
      continue;
    }
    if (command) redactScriptWord(words, i, depth, work, out);
    return;
  }
}

function redactScriptWord(words: readonly string[], index: number, depth: number, work: CommandWork, out: Map<number, string>): void {
  if (depth + 1 >= COMMAND_MAX_NESTING) return;
  const script = words[index]!;
  const redacted = redactLine(script, depth + 1, work);
  if (redacted !== script) out.set(index, redacted);
}

/** The index of the first operand from `from` on, past flags and their values. */
function firstOperand(words: readonly string[], from: number, valueFlags: ReadonlySet<string>, work: CommandWork): number | undefined {
  for (let i = from; i < words.length; i++) {
    work.steps++;
    const word = words[i]!;
    if (word === '--') return i + 1 < words.length ? i + 1 : undefined;
    if (!word.startsWith('-') || word === '-') return i;
    if (valueFlags.has(word)) i++;
  }
  return undefined;
}

/** True when a secret flag takes the next word as its value (the tool would read it so). */
function takesNext(flag: SecretFlag, next: string | undefined): next is string {
  return next !== undefined && flag.separate && !(flag.notDash === true && next.startsWith('-'));
}

/** A tool's arguments: its secret flags (glued, separate, in clusters), then its positionals. */
function scanTool(words: readonly string[], start: number, rules: ToolRules, depth: number, work: CommandWork, out: Map<number, string>): void {
  const valueFlags = new Set(rules.valueFlags ?? []);
  let from = start;
  if (rules.subcommand !== undefined) {
    const at = firstOperand(words, from, valueFlags, work);
    if (at === undefined || words[at] !== rules.subcommand) return;
    from = at + 1;
  }
  const booleans = rules.booleans ?? '';
  const flags = new Set<string>();
  const positionals: number[] = [];
  let options = true;
  for (let i = from; i < words.length; i++) {
    work.steps++;
    const word = words[i]!;
    if (options && word === '--') {
      options = false;
      continue;
    }
    if (!options || !word.startsWith('-') || word === '-') {
      positionals.push(i);
      if (rules.wraps === true) {
        scanCommand(words, i, depth + 1, work, out);
        return;
      }
      continue;
    }
    const eq = word.indexOf('=');
    const flagName = eq < 0 ? word : word.slice(0, eq);
    const long = rules.long?.[flagName];
    if (long !== undefined) {
      if (eq >= 0) {
        const value = long.glued ? long.value(word.slice(eq + 1)) : undefined;
        if (value !== undefined) out.set(i, `${flagName}=${value}`);
      } else {
        const next = words[i + 1];
        if (takesNext(long, next)) {
          const value = long.value(next);
          if (value !== undefined) out.set(i + 1, value);
          i++;
        }
      }
      continue;
    }
    if (word.startsWith('--') || valueFlags.has(flagName)) {
      if (eq < 0 && valueFlags.has(word)) i++;
      continue;
    }
    // A one-letter cluster: flags without a value, then at most one flag with a value (the rest of the word, or the next one).
    const letters = word.slice(1);
    for (let j = 0; j < letters.length && j < 64; j++) {
      work.steps++;
      const letter = letters[j]!;
      const secret = rules.short?.[letter];
      if (secret !== undefined) {
        const rest = letters.slice(j + 1);
        if (rest !== '') {
          const value = secret.glued ? secret.value(rest) : undefined;
          if (value !== undefined) out.set(i, `-${letters.slice(0, j + 1)}${value}`);
        } else {
          const next = words[i + 1];
          if (takesNext(secret, next)) {
            const value = secret.value(next);
            if (value !== undefined) out.set(i + 1, value);
            i++;
          }
        }
        break;
      }
      flags.add(letter);
      if (valueFlags.has(`-${letter}`)) {
        if (j === letters.length - 1) i++;
        break;
      }
      // An unknown letter may take the rest as its value: stop, unless the tool's positionals need every flag.
      if (!booleans.includes(letter) && rules.positional === undefined) break;
    }
  }
  if (rules.positional !== undefined) {
    const secrets = rules.positional(
      positionals.map((index) => words[index]!),
      flags,
    );
    for (const [at, value] of secrets) out.set(positionals[at]!, value);
  }
}

/** A word of a typed line: where it is in the line and what it means once quotes are removed. */
interface LineWord {
  readonly start: number;
  readonly end: number;
  readonly value: string;
  /** The first character was a quote of this kind, and the word is that one quoted string. */
  readonly quote: string | undefined;
}

const OPERATOR = new Set([';', '&', '|', '(', ')', '`', '\n', '\r']);
const BLANK = new Set([' ', '\t', '\f', '\v']);

/** A line as simple commands, each a list of words; every character is read once. */
function splitLine(line: string, work: CommandWork): LineWord[][] {
  const commands: LineWord[][] = [];
  let words: LineWord[] = [];
  let i = 0;
  while (i < line.length) {
    work.steps++;
    const c = line[i]!;
    if (BLANK.has(c)) {
      i++;
      continue;
    }
    if (OPERATOR.has(c) || (c === '$' && line[i + 1] === '(')) {
      if (words.length > 0) commands.push(words);
      words = [];
      i += c === '$' ? 2 : 1;
      continue;
    }
    const start = i;
    let value = '';
    let quotes = 0;
    let quote: string | undefined;
    while (i < line.length) {
      work.steps++;
      const d = line[i]!;
      if (BLANK.has(d) || OPERATOR.has(d)) break;
      if (d === '\\') {
        value += line[i + 1] ?? '';
        i += 2;
        quotes += 2;
      } else if (d === "'" || d === '"') {
        if (i === start) quote = d;
        quotes++;
        i++;
        while (i < line.length && line[i] !== d) {
          work.steps++;
          if (d === '"' && line[i] === '\\' && i + 1 < line.length) i++;
          value += line[i];
          i++;
        }
        i++;
        quotes++;
      } else {
        value += d;
        i++;
      }
    }
    const end = Math.min(i, line.length);
    const wholeQuoted = quote !== undefined && quotes === 2 && line[end - 1] === quote && end - start >= 2;
    words.push({ start, end, value, quote: wholeQuoted ? quote : undefined });
  }
  if (words.length > 0) commands.push(words);
  return commands;
}

function redactLine(line: string, depth: number, work: CommandWork): string {
  if (!mentionsCommandTool(line)) return line;
  const edits: Array<{ start: number; end: number; text: string }> = [];
  for (const command of splitLine(line, work)) {
    const found = new Map<number, string>();
    scanCommand(
      command.map((word) => word.value),
      0,
      depth,
      work,
      found,
    );
    for (const [index, text] of found) {
      const word = command[index]!;
      edits.push({ start: word.start, end: word.end, text: word.quote !== undefined ? word.quote + text + word.quote : text });
    }
  }
  if (edits.length === 0) return line;
  edits.sort((a, b) => a.start - b.start);
  let out = '';
  let at = 0;
  for (const edit of edits) {
    out += line.slice(at, edit.start) + edit.text;
    at = edit.end;
  }
  return out + line.slice(at);
}

/** Redact the secrets well-known tools take in a typed line or script; `work` counts the steps. */
export function redactCommandLine(line: string, work: CommandWork = { steps: 0 }): string {
  return redactLine(line, 0, work);
}

/** Redact the secrets well-known tools take in an argv (exec's `command`); a new array, elements changed only where a secret was. */
export function redactArgv(argv: readonly string[], work: CommandWork = { steps: 0 }): string[] {
  const out = [...argv];
  if (!argv.some((word) => mentionsCommandTool(word))) return out;
  const found = new Map<number, string>();
  scanCommand(argv, 0, 0, work, found);
  for (const [index, value] of found) out[index] = value;
  return out;
}
