/**
 * Command-aware redaction (src/audit/redact-command.ts, family `command-secret`): secrets that
 * well-known tools take positionally or after a one-letter flag, in an exec argv (the `command`
 * query parameters) and in typed lines. Table-driven cases (positive and negative, the case id
 * in every message), a storm of generated commands with a random secret that must never
 * survive, a storm of commands without these tools that must come out unchanged, and bounded
 * work on hostile input. Secrets are made up; nothing real-looking sits in the source.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { REDACTED, redactQuery, redactString, redactValue } from '../../../src/audit/redact.js';
import { COMMAND_MAX_NESTING, redactArgv, redactCommandLine, type CommandWork } from '../../../src/audit/redact-command.js';

const R = REDACTED;

/** One case: an argv, and what it must be recorded as (the same argv for a negative case). */
interface ArgvCase {
  readonly id: string;
  readonly argv: readonly string[];
  readonly expected?: readonly string[];
}

const ARGV_CASES: readonly ArgvCase[] = [
  { id: 'mysql/positive-glued', argv: ['mysql', '-uroot', '-phunter2', 'db'], expected: ['mysql', '-uroot', `-p${R}`, 'db'] },
  { id: 'mysql/positive-path', argv: ['/usr/bin/mysql', '-h', 'db', '-phunter2'], expected: ['/usr/bin/mysql', '-h', 'db', `-p${R}`] },
  { id: 'mysql/positive-cluster', argv: ['mysql', '-Bsphunter2'], expected: ['mysql', `-Bsp${R}`] },
  { id: 'mysql/positive-long-eq', argv: ['mysqldump', '--password=hunter2', 'db'], expected: ['mysqldump', `--password=${R}`, 'db'] },
  { id: 'mysql/positive-long-next', argv: ['mariadb', '--password', 'hunter2'], expected: ['mariadb', '--password', R] },
  { id: 'mysql/positive-admin', argv: ['mysqladmin', '-u', 'root', '-phunter2', 'status'], expected: ['mysqladmin', '-u', 'root', `-p${R}`, 'status'] },
  { id: 'mysql/negative-prompt', argv: ['mysql', '-p', 'db'] },
  { id: 'mysql/negative-prompt-alone', argv: ['mysql', '-u', 'root', '-p'] },
  { id: 'mysql/negative-port', argv: ['mysql', '-P', '3306', '-e', 'select -phunter2'] },
  { id: 'sshpass/positive', argv: ['sshpass', '-p', 'hunter2', 'ssh', 'host'], expected: ['sshpass', '-p', R, 'ssh', 'host'] },
  { id: 'sshpass/positive-glued', argv: ['sshpass', '-phunter2', 'ssh', '-p', '22', 'host'], expected: ['sshpass', `-p${R}`, 'ssh', '-p', '22', 'host'] },
  { id: 'sshpass/negative-env', argv: ['sshpass', '-e', 'ssh', '-p', '22', 'host'] },
  { id: 'redis-cli/positive', argv: ['redis-cli', '-h', 'cache', '-a', 'hunter2', 'ping'], expected: ['redis-cli', '-h', 'cache', '-a', R, 'ping'] },
  { id: 'redis-cli/positive-pass', argv: ['redis-cli', '--pass', 'hunter2'], expected: ['redis-cli', '--pass', R] },
  { id: 'redis-cli/negative-askpass', argv: ['redis-cli', '--askpass', '-p', '6379', 'ping'] },
  { id: 'curl/positive-user', argv: ['curl', '-u', 'ana:hunter2', 'https://example.test/'], expected: ['curl', '-u', `ana:${R}`, 'https://example.test/'] },
  { id: 'curl/positive-glued', argv: ['curl', '-uana:hunter2', 'x'], expected: ['curl', `-uana:${R}`, 'x'] },
  { id: 'curl/positive-cluster', argv: ['curl', '-sSu', 'ana:hunter2', 'x'], expected: ['curl', '-sSu', `ana:${R}`, 'x'] },
  { id: 'curl/positive-long', argv: ['curl', '--user', 'ana:hunter2', '--proxy-user', 'bo:hunter3'], expected: ['curl', '--user', `ana:${R}`, '--proxy-user', `bo:${R}`] },
  { id: 'curl/positive-bearer', argv: ['curl', '--oauth2-bearer', 'tok3n', 'x'], expected: ['curl', '--oauth2-bearer', R, 'x'] },
  { id: 'curl/negative-user-only', argv: ['curl', '-u', 'ana', '-H', 'Accept: text/plain', 'https://example.test/'] },
  { id: 'vault/positive-token', argv: ['vault', 'login', 's.hunter2'], expected: ['vault', 'login', R] },
  { id: 'vault/positive-token-eq', argv: ['vault', 'login', '-no-print', 'token=s.hunter2'], expected: ['vault', 'login', '-no-print', `token=${R}`] },
  { id: 'vault/positive-flags-first', argv: ['bao', 'login', '-address', 'https://v:8200', 's.hunter2'], expected: ['bao', 'login', '-address', 'https://v:8200', R] },
  { id: 'vault/negative-method', argv: ['vault', 'login', '-method=userpass', 'username=ana'] },
  { id: 'vault/negative-stdin', argv: ['vault', 'login', '-'] },
  { id: 'vault/negative-other', argv: ['vault', 'read', 'secret/db'] },
  { id: 'docker/positive', argv: ['docker', 'login', '-u', 'ana', '-p', 'hunter2', 'reg.test'], expected: ['docker', 'login', '-u', 'ana', '-p', R, 'reg.test'] },
  { id: 'docker/positive-global', argv: ['podman', '--config', '/c', 'login', '--password', 'hunter2'], expected: ['podman', '--config', '/c', 'login', '--password', R] },
  { id: 'docker/negative-run', argv: ['docker', 'run', '-p', '8080:80', 'nginx'] },
  { id: 'docker/negative-stdin', argv: ['docker', 'login', '-u', 'ana', '--password-stdin', 'reg.test'] },
  { id: 'htpasswd/positive', argv: ['htpasswd', '-b', 'users', 'ana', 'hunter2'], expected: ['htpasswd', '-b', 'users', 'ana', R] },
  { id: 'htpasswd/positive-no-file', argv: ['htpasswd', '-nbB', 'ana', 'hunter2'], expected: ['htpasswd', '-nbB', 'ana', R] },
  { id: 'htpasswd/positive-cost', argv: ['htpasswd', '-B', '-C', '10', '-b', 'users', 'ana', 'hunter2'], expected: ['htpasswd', '-B', '-C', '10', '-b', 'users', 'ana', R] },
  { id: 'htpasswd/negative-prompt', argv: ['htpasswd', '-c', 'users', 'ana'] },
  { id: 'ldap/positive', argv: ['ldapsearch', '-x', '-D', 'cn=admin', '-w', 'hunter2', '-b', 'dc=x'], expected: ['ldapsearch', '-x', '-D', 'cn=admin', '-w', R, '-b', 'dc=x'] },
  { id: 'ldap/positive-glued', argv: ['ldapmodify', '-xwhunter2', '-f', 'a.ldif'], expected: ['ldapmodify', `-xw${R}`, '-f', 'a.ldif'] },
  { id: 'ldap/negative-prompt', argv: ['ldapsearch', '-x', '-W', '-s', 'sub', '-b', 'dc=x'] },
  { id: 'keytool/positive', argv: ['keytool', '-list', '-keystore', 'k.jks', '-storepass', 'hunter2', '-keypass', 'hunter3'], expected: ['keytool', '-list', '-keystore', 'k.jks', '-storepass', R, '-keypass', R] },
  { id: 'keytool/negative-env', argv: ['keytool', '-list', '-storepass:env', 'STOREPASS'] },
  { id: 'openssl/positive', argv: ['openssl', 'pkcs12', '-in', 'a.p12', '-passin', 'pass:hunter2', '-passout', 'pass:hunter3'], expected: ['openssl', 'pkcs12', '-in', 'a.p12', '-passin', `pass:${R}`, '-passout', `pass:${R}`] },
  { id: 'openssl/positive-enc-k', argv: ['openssl', 'enc', '-aes-256-cbc', '-k', 'hunter2'], expected: ['openssl', 'enc', '-aes-256-cbc', '-k', R] },
  { id: 'openssl/negative-names', argv: ['openssl', 'rsa', '-passin', 'env:KEY_PASS', '-passout', 'file:/run/pass', '-pass', 'fd:3'] },
  { id: 'smbclient/positive', argv: ['smbclient', '//srv/share', '-U', 'ana%hunter2'], expected: ['smbclient', '//srv/share', '-U', `ana%${R}`] },
  { id: 'smbclient/positive-positional', argv: ['smbclient', '//srv/share', 'hunter2', '-U', 'ana'], expected: ['smbclient', '//srv/share', R, '-U', 'ana'] },
  { id: 'smbclient/negative', argv: ['smbclient', '-L', 'srv', '-N', '-U', 'ana'] },
  { id: 'mongo/positive', argv: ['mongosh', '-u', 'admin', '-p', 'hunter2', '--host', 'db'], expected: ['mongosh', '-u', 'admin', '-p', R, '--host', 'db'] },
  { id: 'mongo/positive-long', argv: ['mongo', '--password', 'hunter2'], expected: ['mongo', '--password', R] },
  { id: 'mongo/negative-prompt', argv: ['mongosh', '-u', 'admin', '-p', '--authenticationDatabase', 'admin'] },
  { id: 'ssh-keygen/positive', argv: ['ssh-keygen', '-p', '-P', 'hunter2', '-N', 'hunter3', '-f', 'id'], expected: ['ssh-keygen', '-p', '-P', R, '-N', R, '-f', 'id'] },
  { id: 'ssh-keygen/negative-empty', argv: ['ssh-keygen', '-t', 'ed25519', '-N', '', '-f', 'id'] },
  { id: 'wrapper/positive-sudo', argv: ['sudo', '-u', 'mysql', 'mysql', '-phunter2'], expected: ['sudo', '-u', 'mysql', 'mysql', `-p${R}`] },
  { id: 'wrapper/positive-env', argv: ['env', '-i', 'HOME=/root', 'redis-cli', '-a', 'hunter2'], expected: ['env', '-i', 'HOME=/root', 'redis-cli', '-a', R] },
  { id: 'wrapper/positive-timeout', argv: ['timeout', '-s', 'KILL', '10s', 'mysql', '-phunter2'], expected: ['timeout', '-s', 'KILL', '10s', 'mysql', `-p${R}`] },
  { id: 'wrapper/positive-exec-nice', argv: ['exec', 'nice', '-n', '5', 'nohup', 'mysql', '-phunter2'], expected: ['exec', 'nice', '-n', '5', 'nohup', 'mysql', `-p${R}`] },
  { id: 'wrapper/positive-sh-c', argv: ['sh', '-c', 'mysql -phunter2 db && redis-cli -a hunter3 ping'], expected: ['sh', '-c', `mysql -p${R} db && redis-cli -a ${R} ping`] },
  { id: 'wrapper/positive-bash-lc', argv: ['/bin/bash', '-lc', "curl -u 'ana:hun ter2' x"], expected: ['/bin/bash', '-lc', `curl -u 'ana:${R}' x`] },
  { id: 'wrapper/positive-sshpass-ssh', argv: ['sshpass', '-p', 'hunter2', 'ssh', 'host', 'mysql -phunter3'], expected: ['sshpass', '-p', R, 'ssh', 'host', `mysql -p${R}`] },
  { id: 'wrapper/negative-sh-script', argv: ['sh', 'mysql', '-phunter2'] },
  { id: 'wrapper/negative-argument', argv: ['grep', '-r', 'mysql', '-phunter2', '.'] },
  { id: 'other/negative', argv: ['ssh', '-p22', 'host'] },
  { id: 'other/negative-grep', argv: ['grep', '-p', 'x'] },
];

/** Line cases: a typed line and what it must be recorded as (the same line for a negative case). */
const LINE_CASES: ReadonlyArray<readonly [string, string, string?]> = [
  ['line/positive-simple', 'mysql -phunter2 -u root\r', `mysql -p${R} -u root\r`],
  ['line/positive-quoted-secret', "mysql -p'hun ter2' db\n", `mysql -p${R} db\n`],
  ['line/positive-double-quoted', 'redis-cli -a "hun ter2" ping', `redis-cli -a "${R}" ping`],
  ['line/positive-escaped', 'sshpass -p hun\\ ter2 ssh host', `sshpass -p ${R} ssh host`],
  ['line/positive-after-operators', 'cd /x && mysql -phunter2 < a.sql; curl -u a:hunter3 x|jq .', `cd /x && mysql -p${R} < a.sql; curl -u a:${R} x|jq .`],
  ['line/positive-glued-operator', 'true;vault login s.hunter2', `true;vault login ${R}`],
  ['line/positive-substitution', 'x=$(mysql -phunter2 -e "select 1")', `x=$(mysql -p${R} -e "select 1")`],
  ['line/positive-sh-c', `bash -c 'mysql -phunter2'`, `bash -c 'mysql -p${R}'`],
  ['line/positive-nested', `sh -c "sudo sh -c 'mysql -phunter2'"`, `sh -c "sudo sh -c 'mysql -p${R}'"`],
  ['line/positive-kubectl', 'kubectl exec -it db -- mysql -phunter2', `kubectl exec -it db -- mysql -p${R}`],
  ['line/positive-env-split', 'env -S "mysql -phunter2"', `env -S "mysql -p${R}"`],
  ['line/positive-psql-url', 'psql postgresql://ana:hunter2@db/app', `psql postgresql://ana:${R}@db/app`],
  ['line/negative-prose', 'echo please run mysql -p and type it'],
  ['line/negative-ssh', 'ssh -p 22 host; grep -p x; docker run -p 80:80 nginx'],
  ['line/negative-curl-user', 'curl -u ana https://example.test/'],
  ['line/negative-openssl-names', 'openssl rsa -passin env:KEY_PASS -in k.pem'],
  ['line/negative-prototype-names', 'constructor -u x; __proto__ -p y; toString mysql; hasOwnProperty curl -u a:b'],
  ['line/positive-prototype-names', 'constructor; mysql -phunter2', `constructor; mysql -p${R}`],
];

describe('redact-command: exec argv (table)', () => {
  for (const c of ARGV_CASES) {
    it(c.id, () => {
      const out = redactArgv(c.argv);
      const expected = c.id.includes('/negative') ? c.argv : c.expected;
      assert.deepEqual(out, expected, `${c.id}: argv`);
      assert.deepEqual(redactArgv(out), out, `${c.id}: redacting twice changes nothing`);
      const query = c.argv.map((word) => `command=${encodeURIComponent(word)}`).join('&') + '&stdin=true';
      const recorded = redactQuery(query);
      const words = recorded
        .split('&')
        .filter((piece) => piece.startsWith('command='))
        .map((piece) => decodeURIComponent(piece.slice('command='.length)));
      assert.deepEqual(words, expected, `${c.id}: the recorded query`);
      assert.deepEqual(redactValue(c.argv), expected, `${c.id}: an argv in a record`);
    });
  }
});

describe('redact-command: typed lines (table)', () => {
  for (const [id, line, expected] of LINE_CASES) {
    it(id, () => {
      const out = redactString(line);
      assert.equal(out, id.includes('/negative') ? line : expected, `${id}: line`);
      assert.equal(redactString(out), out, `${id}: redacting twice changes nothing`);
    });
  }
});

/** xorshift32: the same storm on every run (the seed is in every message). */
function generator(seed: number): (n: number) => number {
  let state = seed;
  return (n) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };
}

const SECRET_FIRST = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
const SECRET_REST = SECRET_FIRST + '0123456789._~+^,@';

/** A command line word as a shell reads it back: quoted when it has to be. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_./:%@^,+=~-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

type Pick = <T>(items: readonly T[]) => T;

/** Every way a secret is given to a tool: the tool's argv with the secret in it, fillers around in random order. */
const FORMS: ReadonlyArray<(secret: string, pick: Pick) => string[]> = [
  (s, pick) => {
    const tool = pick(['mysql', 'mariadb', 'mysqldump', 'mysqladmin', '/usr/bin/mysql', 'mariadb-dump']);
    const secret = pick([[`-p${s}`], [`--password=${s}`], ['--password', s], [`-Bsp${s}`], ['-uroot', `-p${s}`]]);
    return [tool, ...shuffleIn(pick, secret, [['-u', 'root'], ['-h', 'db.test'], ['-P', '3306'], ['--protocol=tcp'], ['-e', 'select 1']]), 'app'];
  },
  (s, pick) => ['sshpass', ...pick([['-p', s], [`-p${s}`]]), 'ssh', ...pick([[], ['-p', '22']]), 'ana@host'],
  (s, pick) => ['redis-cli', ...shuffleIn(pick, pick([['-a', s], ['--pass', s]]), [['-h', 'cache'], ['-p', '6379'], ['--no-auth-warning']]), 'ping'],
  (s, pick) => {
    const secret = pick([['-u', `ana:${s}`], [`-uana:${s}`], ['--user', `ana:${s}`], ['-sSu', `ana:${s}`], ['-U', `proxy:${s}`], ['--oauth2-bearer', s]]);
    return ['curl', ...shuffleIn(pick, secret, [['-sS'], ['-H', 'Accept: text/plain'], ['-o', '/dev/null'], ['-X', 'POST']]), 'https://example.test/a'];
  },
  (s, pick) => [pick(['vault', 'bao']), 'login', ...pick([[], ['-no-print'], ['-address', 'https://v.test:8200'], ['-method=token']]), pick([s, `token=${s}`])],
  (s, pick) => [pick(['docker', 'podman', 'nerdctl']), 'login', ...shuffleIn(pick, pick([['-p', s], ['--password', s], [`--password=${s}`]]), [['-u', 'ana'], ['--username', 'ana']]), 'registry.test'],
  (s, pick) => ['htpasswd', ...pick([['-b', 'users', 'ana', s], ['-nb', 'ana', s], ['-bB', '-C', '10', 'users', 'ana', s], ['-B', '-b', 'users', 'ana', s]])],
  (s, pick) => [pick(['ldapsearch', 'ldapmodify', 'ldapadd', 'ldapwhoami']), ...shuffleIn(pick, pick([['-w', s], [`-w${s}`], [`-xw${s}`]]), [['-x'], ['-D', 'cn=admin,dc=x'], ['-H', 'ldap://ldap.test'], ['-b', 'dc=x']])],
  (s, pick) => ['keytool', ...shuffleIn(pick, [pick(['-storepass', '-keypass', '-srcstorepass', '-deststorepass']), s], [['-list'], ['-keystore', 'k.jks'], ['-alias', 'a']])],
  (s, pick) => ['openssl', pick(['pkcs12', 'rsa', 'req', 'enc']), ...shuffleIn(pick, pick([[pick(['-passin', '-passout', '-pass', '-password']), `pass:${s}`], ['-k', s]]), [['-in', 'a.pem'], ['-out', 'b.pem'], ['-nodes']])],
  (s, pick) => ['smbclient', '//srv/share', ...pick([['-U', `ana%${s}`], [`-Uana%${s}`], [`--user=ana%${s}`], [s, '-U', 'ana'], ['-W', 'WG', s]])],
  (s, pick) => [pick(['mongosh', 'mongo', 'mongodump']), ...shuffleIn(pick, pick([['-p', s], ['--password', s], [`--password=${s}`]]), [['-u', 'admin'], ['--host', 'db.test'], ['--quiet']])],
  (s, pick) => ['ssh-keygen', ...shuffleIn(pick, pick([['-N', s], ['-P', s], [`-N${s}`]]), [['-t', 'ed25519'], ['-f', 'id'], ['-q']])],
];

/** `secret` and some of `fillers`, in a random order (each group kept together). */
function shuffleIn(pick: Pick, secret: readonly string[], fillers: ReadonlyArray<readonly string[]>): string[] {
  const groups = [secret, ...fillers.filter(() => pick([true, false]))];
  const out: string[] = [];
  while (groups.length > 0) {
    const at = groups.indexOf(pick(groups));
    out.push(...groups.splice(at, 1)[0]!);
  }
  return out;
}

/** What may run a command: nothing, wrappers, or a shell given it as a script. */
function wrap(argv: string[], pick: Pick): string[] {
  const prefix = pick([[], ['sudo'], ['sudo', '-u', 'root'], ['env', 'A=1'], ['timeout', '10'], ['exec'], ['nice', '-n', '5'], ['nohup'], ['LANG=C'], ['doas'], ['env', '-i', 'sudo']]);
  const wrapped = [...prefix, ...argv];
  const how = pick(['argv', 'argv', 'sh', 'bash', 'kubectl']);
  if (how === 'sh') return ['sh', '-c', wrapped.map(shellWord).join(' ')];
  if (how === 'bash') return ['/bin/bash', '-lc', `cd /tmp && ${wrapped.map(shellWord).join(' ')} | head`];
  if (how === 'kubectl') return ['kubectl', 'exec', '-i', 'db', '--', ...wrapped];
  return wrapped;
}

describe('Security: a secret given to a known tool never survives redaction (storm)', () => {
  const SEED = 0x5eed1234;
  const ROUNDS = 3000;
  it(`${ROUNDS} generated commands, as argv, exec query and typed line (seed ${SEED})`, () => {
    const random = generator(SEED);
    const pick: Pick = (items) => items[random(items.length)]!;
    for (let round = 0; round < ROUNDS; round++) {
      let secret = SECRET_FIRST[random(SECRET_FIRST.length)]!;
      const length = 8 + random(24);
      while (secret.length < length) secret += SECRET_REST[random(SECRET_REST.length)];
      const argv = wrap(FORMS[random(FORMS.length)]!(secret, pick), pick);
      const id = `round ${round} (seed ${SEED}): ${JSON.stringify(argv)}`;

      const out = redactArgv(argv);
      assert.equal(out.length, argv.length, `${id}: as many words`);
      out.forEach((word, i) => {
        assert.ok(!word.includes(secret), `${id}: the secret survived in ${JSON.stringify(out)}`);
        if (!argv[i]!.includes(secret)) assert.equal(word, argv[i], `${id}: a word without the secret is kept`);
      });

      const query = argv.map((word) => `command=${encodeURIComponent(word)}`).join('&') + '&container=db&stdin=true';
      const recorded = redactQuery(query);
      assert.ok(!decodeURIComponent(recorded).includes(secret) && !recorded.includes(encodeURIComponent(secret)), `${id}: the secret survived in the query ${recorded}`);
      assert.ok(recorded.endsWith('&container=db&stdin=true'), `${id}: the rest of the query is kept`);

      const line = argv.map(shellWord).join(' ') + pick(['', '\r', '\n']);
      const typed = redactString(line);
      assert.ok(!typed.includes(secret), `${id}: the secret survived in the typed line ${typed}`);
      assert.equal(redactString(typed), typed, `${id}: redacting the line twice changes nothing`);
      assert.deepEqual(redactArgv(out), out, `${id}: redacting the argv twice changes nothing`);
    }
  });

  it('commands without these tools (tool names as arguments, the same flags) come out unchanged', () => {
    const SEED2 = 0x0dd5eed;
    const random = generator(SEED2);
    const pick: Pick = (items) => items[random(items.length)]!;
    const PROGRAMS = ['grep', 'scp', 'ls', 'cat', 'tar', 'git', 'python3', 'echo', 'ps', 'mysqlx', 'mysql-workbench', 'curlie', 'vaulted', 'xdocker', '/opt/mysql/bin/', 'sudo', 'env', 'timeout'];
    const ARGS = ['-p', '-pfoo', '-a', 'x', '-u', 'user:pw', '-w', 'login', '-b', 'file', '-N', 'ana%pw', '-storepass', 'pass:abc', '-U', '-k', 'mysql', 'curl', 'vault', 'redis-cli', 'sshpass', 'htpasswd', '-c', '--', '-e', '10', 'sh', 'bash', 'docker'];
    for (let round = 0; round < 3000; round++) {
      const argv = [pick(PROGRAMS)];
      const count = random(10);
      for (let i = 0; i < count; i++) argv.push(pick(ARGS));
      // A wrapper's command position must not land on a tool: the first word after a wrapper is a program from the list.
      if (['sudo', 'env', 'timeout'].includes(argv[0]!)) argv.splice(1, 0, ...(argv[0] === 'timeout' ? ['5'] : []), pick(PROGRAMS.slice(0, 14)));
      const id = `round ${round} (seed ${SEED2}): ${JSON.stringify(argv)}`;
      assert.deepEqual(redactArgv(argv), argv, `${id}: argv unchanged`);
      const query = argv.map((word) => `command=${encodeURIComponent(word)}`).join('&');
      assert.equal(redactQuery(query), query, `${id}: query unchanged`);
      const line = argv.map(shellWord).join(' ');
      assert.equal(redactCommandLine(line), line, `${id}: line unchanged`);
    }
  });
});

describe('Security: command-aware redaction of hostile input does bounded work (steps counted)', () => {
  const MB = 1024 * 1024;
  const many = (n: number, words: readonly string[]): string[] => Array.from({ length: n * words.length }, (_, i) => words[i % words.length]!);
  const argvInputs: ReadonlyArray<readonly [string, readonly string[]]> = [
    ['1 MB glued password', ['mysql', '-p' + 'a'.repeat(MB)]],
    ['1 MB user without a colon', ['curl', '-u', 'a'.repeat(MB)]],
    ['1 MB cluster', ['mysql', '-' + 'B'.repeat(MB)]],
    ['1 MB htpasswd flags', ['htpasswd', '-' + 'b'.repeat(MB), 'f', 'u', 'p']],
    ['1 MB script', ['sh', '-c', 'mysql -p'.repeat(MB / 8)]],
    ['100k wrappers', [...many(100_000, ['sudo']), 'mysql', '-pX']],
    ['100k sshpass', many(50_000, ['sshpass', '-p', 'x'])],
    ['100k kubectl', many(50_000, ['kubectl', '--'])],
    ['100k ssh', many(50_000, ['ssh', 'h'])],
    ['100k flags', ['mysql', ...many(100_000, ['-p'])]],
    ['100k shells', many(50_000, ['sh', '-c'])],
  ];
  for (const [id, argv] of argvInputs) {
    it(`argv: ${id}`, () => {
      const size = argv.reduce((sum, word) => sum + word.length + 1, 0);
      const work: CommandWork = { steps: 0 };
      const out = redactArgv(argv, work);
      assert.equal(out.length, argv.length, `${id}: completes`);
      assert.ok(work.steps <= 2 * size + 64, `${id}: ${work.steps} steps for ${size} characters`);
    });
  }
  const lineInputs: ReadonlyArray<readonly [string, string]> = [
    ['unterminated quotes', "mysql '" + "'a".repeat(MB / 2)],
    ['nested sh -c', 'sh -c "'.repeat(MB / 7)],
    ['nested scripts at the bound', `${'sh -c '.repeat(COMMAND_MAX_NESTING + 4)}mysql -pX`],
    ['operators', 'mysql -pX;'.repeat(MB / 10)],
    ['substitutions', '$(mysql '.repeat(MB / 8)],
    ['backslashes', 'mysql ' + '\\'.repeat(MB)],
    ['tool names', 'mysql'.repeat(MB / 5)],
  ];
  it('20,000 random lines of tool names, wrappers, flags, quotes and operators: no throw, bounded steps', () => {
    const PIECES = ['mysql', 'curl', 'sshpass', 'vault', 'login', 'docker', 'htpasswd', 'sh', '-c', 'bash', 'sudo', 'env', '-S', 'timeout', '10', 'kubectl', '--', 'ssh', 'h', '-p', '-pX', '-u', 'a:b', '-a', '-b', '-nb', 'x', '"', "'", '\\', ';', '&&', '|', '$(', ')', '`', ' ', '\t', '\n', 'constructor', '__proto__', '-w', '-U', 'a%b', 'token=t', 'pass:z', '-passin', 'openssl', 'keytool', '-storepass', '=', '-', 'smbclient', '//s/h'];
    const random = generator(0x12345);
    for (let round = 0; round < 20_000; round++) {
      let line = '';
      const count = 1 + random(14);
      for (let i = 0; i < count; i++) line += PIECES[random(PIECES.length)]! + (random(2) === 0 ? ' ' : '');
      const work: CommandWork = { steps: 0 };
      assert.equal(typeof redactCommandLine(line, work), 'string', `round ${round}: ${JSON.stringify(line)}`);
      assert.ok(work.steps <= 3 * line.length + 64, `round ${round}: ${work.steps} steps for ${JSON.stringify(line)}`);
      assert.equal(redactArgv(line.split(' ')).length, line.split(' ').length, `round ${round}: argv`);
    }
  });
  for (const [id, line] of lineInputs) {
    it(`line: ${id} (${line.length} characters)`, () => {
      const work: CommandWork = { steps: 0 };
      const out = redactCommandLine(line, work);
      assert.equal(typeof out, 'string', `${id}: completes`);
      assert.ok(work.steps <= 3 * line.length + 64, `${id}: ${work.steps} steps for ${line.length} characters`);
    });
  }
});
