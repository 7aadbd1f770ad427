/**
 * The redaction module: one positive and one negative case per family (table-driven, the case
 * id in every message), keys and nested values, query strings, and bounded work on
 * adversarial input. Secrets are assembled from pieces so no real-looking token sits in the
 * source.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import {
  REDACTED,
  REDACTION_FAMILIES,
  isBareSecretFlag,
  isPlainText,
  isSecretKeyName,
  redactQuery,
  redactString,
  redactValue,
} from '../../../src/audit/redact.js';
import { REDACT_MAX_DEPTH, REDACT_MAX_STRING_CHARS } from '../../../src/limits.js';
import { repoPath } from '../../helpers/paths.js';

/** `n` characters cycling through `alphabet`. */
function fill(n: number, alphabet = 'aB3xK9mQ2wZ7'): string {
  let out = '';
  for (let i = 0; i < n; i++) out += alphabet[i % alphabet.length];
  return out;
}

interface Case {
  /** Case id: `<family>/<positive|negative>[-variant]`. */
  readonly id: string;
  readonly input: string;
  /** Expected output; for negative cases the input is expected unchanged. */
  readonly expected?: string;
  /** Text that must not appear in the output (the secret). */
  readonly secret?: string;
}

const PEM_BODY = 'MIIEow' + fill(120, 'ABCDEFGHabcdefgh0123456789+/') + '\n' + fill(64, 'QRSTqrst4567');
const JWT = `eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQifQ.${fill(43, 'Sig_-9xZ')}`;
const AWS_SECRET = fill(40, 'wJalrXUtnFEMIK7MDENGbPxRfiCY/+');

const CASES: readonly Case[] = [
  {
    id: 'private-key/positive',
    input: `key:\n-----BEGIN RSA PRIVATE KEY-----\n${PEM_BODY}\n-----END RSA PRIVATE KEY-----\nafter`,
    expected: `key:\n${REDACTED}\nafter`,
  },
  {
    id: 'private-key/positive-cut-off',
    input: `-----BEGIN OPENSSH PRIVATE KEY-----\n${PEM_BODY}`,
    expected: REDACTED,
  },
  {
    id: 'private-key/negative',
    input: `-----BEGIN CERTIFICATE-----\n${PEM_BODY}\n-----END CERTIFICATE-----`,
  },
  {
    id: 'auth-header/positive',
    input: `curl -H 'Authorization: token ${fill(20)}' https://api`,
    expected: `curl -H 'Authorization: ${REDACTED}' https://api`,
  },
  {
    id: 'auth-header/positive-json',
    input: `{"Cookie":"session=${fill(16)}; theme=dark","x":1}`,
    expected: `{"Cookie":"${REDACTED}","x":1}`,
  },
  {
    id: 'auth-header/positive-long-value',
    input: `Cookie: session=${fill(20_000)}\nnext`,
    expected: `Cookie: ${REDACTED}\nnext`,
  },
  {
    id: 'secret-flag/positive-unterminated-quote',
    input: `run --password="${fill(30)}`,
    expected: `run --password=${REDACTED}`,
  },
  { id: 'auth-header/negative', input: 'no authorization required for this cookie jar' },
  {
    id: 'url-credentials/positive',
    input: 'postgres://admin:hunter2-is-long@db.internal:5432/app',
    expected: `postgres://admin:${REDACTED}@db.internal:5432/app`,
  },
  { id: 'url-credentials/negative', input: 'https://example.com:8443/api/v1/pods?limit=500' },
  { id: 'jwt/positive', input: `token ${JWT} end`, expected: `token ${REDACTED} end` },
  { id: 'jwt/negative', input: 'header eyJhbGciOiJSUzI1NiJ9 alone is not a token' },
  {
    id: 'aws-access-key-id/positive',
    input: 'id=AKIAIOSFODNN7EXAMPLE,',
    expected: `id=AKIA${REDACTED},`,
  },
  { id: 'aws-access-key-id/negative', input: 'AKIA1234 and AKIAIOSFODNN7EXAMPLEANDMORE' },
  {
    id: 'aws-secret-access-key/positive',
    input: `aws_secret_access_key = ${AWS_SECRET}`,
    expected: `aws_secret_access_key = ${REDACTED}`,
  },
  {
    id: 'aws-secret-access-key/positive-json',
    input: `{"SecretAccessKey": "${AWS_SECRET}"}`,
    expected: `{"SecretAccessKey": "${REDACTED}"}`,
  },
  { id: 'aws-secret-access-key/negative', input: 'set aws_secret_access_key in ~/.aws/credentials' },
  {
    id: 'azure-account-key/positive',
    input: `DefaultEndpointsProtocol=https;AccountName=devstore;AccountKey=${fill(86)}==;EndpointSuffix=core.windows.net`,
    expected: `DefaultEndpointsProtocol=https;AccountName=devstore;AccountKey=${REDACTED};EndpointSuffix=core.windows.net`,
  },
  { id: 'azure-account-key/negative', input: 'Endpoint=sb://x/;SharedAccessKeyName=RootManageSharedAccessKey' },
  {
    id: 'azure-sas-signature/positive',
    input: `https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sp=r&sig=${fill(30)}%2B%3D`,
    expected: `https://acct.blob.core.windows.net/c/b?sv=2022-11-02&sp=r&sig=${REDACTED}`,
  },
  { id: 'azure-sas-signature/negative', input: 'design=abc&signed=1' },
  { id: 'google-api-key/positive', input: `key AIza${fill(35)}.`, expected: `key AIza${REDACTED}.` },
  { id: 'google-api-key/negative', input: `AIza${fill(20)}` },
  { id: 'google-oauth-token/positive', input: `ya29.${fill(60)}`, expected: `ya29.${REDACTED}` },
  { id: 'google-oauth-token/negative', input: 'ya29.short' },
  { id: 'stripe/positive', input: `sk_live_${fill(24)}`, expected: `sk_live_${REDACTED}` },
  { id: 'stripe/positive-restricted', input: `rk_test_${fill(24)}`, expected: `rk_test_${REDACTED}` },
  { id: 'stripe/negative', input: `pk_live_${fill(24)} is a publishable key` },
  { id: 'gitlab/positive', input: `glpat-${fill(20)}`, expected: `glpat-${REDACTED}` },
  { id: 'gitlab/negative', input: 'glpat-short' },
  { id: 'npm/positive', input: `//registry.npmjs.org/:_authToken npm_${fill(36)}`, expected: `//registry.npmjs.org/:_authToken npm_${REDACTED}` },
  { id: 'npm/negative', input: 'npm_config_registry is an environment variable' },
  { id: 'pypi/positive', input: `pypi-AgEIcHlwaS5vcmc${fill(60)}`, expected: `pypi-${REDACTED}` },
  { id: 'pypi/negative', input: 'pip install pypi-server' },
  { id: 'github/positive', input: `git push https://ghp_${fill(36)}@github.com`, expected: `git push https://ghp_${REDACTED}@github.com` },
  { id: 'github/positive-server', input: `ghs_${fill(36)}`, expected: `ghs_${REDACTED}` },
  { id: 'github/negative', input: `gh_pages ghp_${fill(10)}` },
  { id: 'github-fine-grained/positive', input: `github_pat_${fill(82)}`, expected: `github_pat_${REDACTED}` },
  { id: 'github-fine-grained/negative', input: 'github_pat_short' },
  { id: 'anthropic/positive', input: `sk-ant-api03-${fill(90)}`, expected: `sk-ant-${REDACTED}` },
  { id: 'anthropic/negative', input: 'sk-ant-short' },
  { id: 'openai/positive', input: `OPENAI=sk-proj-${fill(60)}`, expected: `OPENAI=sk-proj-${REDACTED}` },
  { id: 'openai/negative', input: 'pip install sk-learn; a task-runner-with-a-long-kebab-name' },
  { id: 'huggingface/positive', input: `hf_${fill(34)}`, expected: `hf_${REDACTED}` },
  { id: 'huggingface/negative', input: 'from huggingface_hub import hf_hub_download' },
  { id: 'slack-token/positive', input: 'xoxb-1234567890-0987654321-AbCdEfGhIj', expected: `xoxb-${REDACTED}` },
  { id: 'slack-token/negative', input: 'xoxo-gossip and xoxb-short' },
  {
    id: 'slack-webhook/positive',
    input: `https://hooks.slack.com/services/T0000000/B0000000/${fill(24)}`,
    expected: `https://hooks.slack.com/services/${REDACTED}`,
  },
  { id: 'slack-webhook/negative', input: 'https://api.slack.com/apps and https://hooks.slack.com/' },
  { id: 'kubepair-relay-token/positive', input: `token kprt_${fill(43, 'Ab3_-')}`, expected: `token kprt_${REDACTED}` },
  { id: 'kubepair-relay-token/negative', input: `kprt_${fill(42, 'Ab3_-')}` },
  { id: 'command-secret/positive-mysql', input: 'mysql -uroot -phunter2 app', expected: `mysql -uroot -p${REDACTED} app` },
  { id: 'command-secret/positive-sshpass', input: 'sudo sshpass -p hunter2 ssh db', expected: `sudo sshpass -p ${REDACTED} ssh db` },
  { id: 'command-secret/positive-curl-user', input: "sh -c 'curl -su ana:hunter2 https://x.test'", expected: `sh -c 'curl -su ana:${REDACTED} https://x.test'` },
  { id: 'command-secret/positive-vault', input: 'cd /; vault login s.hunter2abc', expected: `cd /; vault login ${REDACTED}` },
  { id: 'command-secret/negative', input: 'ssh -p22 db; grep -p x; mysql -p app; curl -u ana https://x.test; docker run -p 80:80 web; vault login -' },
  {
    id: 'secret-flag/positive',
    input: 'mysql --password=hunter2 -h db',
    expected: `mysql --password=${REDACTED} -h db`,
  },
  { id: 'secret-flag/positive-single-dash', input: 'vault -token=s.abc123 read', expected: `vault -token=${REDACTED} read` },
  {
    id: 'secret-flag/positive-next-token',
    input: 'kubectl --token abc123def get pods',
    expected: `kubectl --token ${REDACTED} get pods`,
  },
  {
    id: 'secret-flag/positive-prefixed-quoted',
    input: `helm --registry-password "p a s s" x`,
    expected: `helm --registry-password ${REDACTED} x`,
  },
  { id: 'secret-flag/positive-glued', input: 'psql --pgpassword=hunter2 -h db', expected: `psql --pgpassword=${REDACTED} -h db` },
  { id: 'secret-flag/negative', input: 'kubectl --token-file=/var/run/token; docker login --password-stdin --token --verbose' },
  { id: 'secret-flag/negative-glued-pass', input: 'tool --bypass=cache --compass north' },
  { id: 'secret-flag/positive-openssl-pass', input: 'tool -passin pass:hunter2 -in k.pem', expected: `tool -passin pass:${REDACTED} -in k.pem` },
  { id: 'secret-flag/negative-openssl-names', input: 'tool -passin env:KEY_PASS -passout file:/run/p --password stdin -pass fd:3' },
  {
    id: 'secret-query-param/positive',
    input: '/api/v1/pods?watch=true&access_token=abc123&limit=5',
    expected: `/api/v1/pods?watch=true&access_token=${REDACTED}&limit=5`,
  },
  { id: 'secret-query-param/negative', input: '?labelSelector=app%3Dweb&tokenTTL=5&limit=500' },
  { id: 'secret-env-assignment/positive', input: 'GITHUB_TOKEN=abc123 make', expected: `GITHUB_TOKEN=${REDACTED} make` },
  { id: 'secret-env-assignment/positive-glued', input: 'PGPASSWORD=hunter2 psql', expected: `PGPASSWORD=${REDACTED} psql` },
  { id: 'secret-env-assignment/positive-quoted', input: `sh -c "VAULTTOKEN='s.abc 123' vault"`, expected: `sh -c "VAULTTOKEN=${REDACTED} vault"` },
  { id: 'secret-env-assignment/negative', input: 'TOKEN_TTL=3600 PASSWORD_LENGTH=12' },
  { id: 'secret-env-assignment/negative-keyword-first', input: 'password_policy=strict&max_tokens=100&secret_name=db-creds&tokenizer=bert' },
  { id: 'secret-env-assignment/positive-credentials-upper', input: 'AWS_CREDENTIALS=abc123 run', expected: `AWS_CREDENTIALS=${REDACTED} run` },
  { id: 'secret-env-assignment/negative-credentials-lower', input: 'mode=passthrough credentials=client-certificate expires_at=2030-01-01T00:00:00.000Z' },
  { id: 'secret-env-assignment/positive-mysql-pwd', input: 'MYSQL_PWD=hunter2 mysql -uroot', expected: `MYSQL_PWD=${REDACTED} mysql -uroot` },
  { id: 'secret-env-assignment/positive-pass-segment', input: 'env DB_PASS=hunter2 smtp_pass=x2 run', expected: `env DB_PASS=${REDACTED} smtp_pass=${REDACTED} run` },
  { id: 'secret-env-assignment/positive-private-key', input: 'PRIVATE_KEY=abc123 deploy', expected: `PRIVATE_KEY=${REDACTED} deploy` },
  { id: 'secret-env-assignment/negative-pwd-alone', input: 'PWD=/home/ana OLDPWD=/tmp BYPASS=1 PASS_MAX_DAYS=90 cd' },
  { id: 'secret-colon-field/positive-header', input: 'curl -H "X-Vault-Token: s.abcdefgh12345678" https://vault', expected: `curl -H "X-Vault-Token: ${REDACTED}" https://vault` },
  { id: 'secret-colon-field/positive-yaml', input: 'echo password: hunter2 >> app.yaml', expected: `echo password: ${REDACTED} >> app.yaml` },
  { id: 'secret-colon-field/positive-quoted', input: `Private-Token: 'glpat abc' next`, expected: `Private-Token: ${REDACTED} next` },
  { id: 'secret-colon-field/negative', input: 'kind: Secret secretName: db-creds token_ttl: 3600 https://token:/x secret:default/db' },
  {
    id: 'secret-json-field/positive',
    input: '{"user":"a","db_password":"hunter\\"2"}',
    expected: `{"user":"a","db_password":"${REDACTED}"}`,
  },
  { id: 'secret-json-field/negative', input: '{"tokenTTL":"5m","secretName":"db-creds"}' },
  { id: 'bearer/positive', input: `sent Bearer ${fill(20)} to`, expected: `sent Bearer ${REDACTED} to` },
  { id: 'bearer/negative', input: 'a Bearer token is required' },
  { id: 'basic/positive', input: 'Basic dXNlcjpwYXNzd29yZA==', expected: `Basic ${REDACTED}` },
  { id: 'basic/negative', input: 'Basic realm="kubernetes"' },
];

describe('redactString', () => {
  for (const c of CASES) {
    it(`${c.id}`, () => {
      const out = redactString(c.input);
      if (c.id.includes('/negative')) {
        assert.equal(out, c.input, `${c.id}: left unchanged`);
      } else {
        assert.equal(out, c.expected, `${c.id}: redacted`);
        assert.equal(redactString(out), out, `${c.id}: redacting twice changes nothing`);
      }
    });
  }

  it('every family has at least one positive and one negative case', () => {
    for (const family of REDACTION_FAMILIES) {
      for (const kind of ['positive', 'negative']) {
        assert.ok(
          CASES.some((c) => c.id.startsWith(`${family.id}/${kind}`)),
          `${family.id}: a ${kind} case exists`,
        );
      }
    }
    const ids = new Set(REDACTION_FAMILIES.map((family) => family.id));
    for (const c of CASES) assert.ok(ids.has(c.id.split('/')[0] ?? ''), `${c.id}: names a family`);
  });

  it('docs/audit.md lists every family, in order', async () => {
    const text = await readFile(repoPath('docs/audit.md'), 'utf8');
    const start = text.indexOf('<!-- redaction-families:start -->');
    const end = text.indexOf('<!-- redaction-families:end -->');
    assert.ok(start >= 0 && end > start, 'docs/audit.md has the family markers');
    const ids = text
      .slice(start, end)
      .split('\n')
      .filter((line) => line.startsWith('| `'))
      .map((line) => line.split('`')[1]);
    assert.deepEqual(ids, REDACTION_FAMILIES.map((family) => family.id), 'docs: family ids and order');
  });

  it('replaces a string over the size limit whole', () => {
    const long = `Bearer ${fill(20)} ` + 'x'.repeat(REDACT_MAX_STRING_CHARS);
    const out = redactString(long);
    assert.ok(out.startsWith('[REDACTED: '), `oversize: marker, got ${out.slice(0, 40)}`);
    assert.ok(!out.includes(fill(20)), 'oversize: nothing of it kept');
  });
});

/**
 * The invariant behind the name-based families: a value assigned to a name that ENDS in a secret
 * word is never written, whatever the word is glued to (nothing, a separator, another word), its
 * case, and the form the assignment takes. Names are generated, not listed: each secret word
 * (each spelling) × each prefix × each separator × each case × each form. The value is made of
 * the characters a secret may carry without quoting (letters, digits, `/+=.:@!%~-_`).
 */
describe('Security: a secret assigned to any name ending in a secret word is redacted (generated names)', () => {
  const VALUE = 'Zq7/+=.:@!%~-_vAlUe9';
  const WORDS = ['password', 'passwd', 'passphrase', 'token', 'secret', 'apikey', 'api_key', 'api-key', 'access_key', 'secret_key', 'private_key', 'privatekey'];
  const PREFIXES = ['', 'pg', 'mysql', 'vault', 'db', 'x', 'client', 'my2', 'aws_prod'];
  const SEPARATORS = ['', '_', '-', '.'];
  const CASES: ReadonlyArray<(name: string) => string> = [(n) => n.toLowerCase(), (n) => n.toUpperCase(), (n) => n.replace(/^./, (c) => c.toUpperCase())];
  /** Each form: where the name and value sit; `env` names hold no `-` or `.` (a shell refuses them). */
  const FORMS: ReadonlyArray<readonly [string, (name: string) => string]> = [
    ['env', (name) => `${name}=${VALUE} psql -h db`],
    ['env-export', (name) => `export ${name}=${VALUE}; run`],
    ['env-double-quoted', (name) => `${name}="${VALUE} with space" cmd`],
    ['env-single-quoted', (name) => `sh -c '${name}=${VALUE} cmd'`],
    ['flag-equals', (name) => `tool --${name}=${VALUE} --verbose`],
    ['flag-space', (name) => `tool --${name} ${VALUE} --verbose`],
    ['flag-single-dash', (name) => `tool -${name}=${VALUE}`],
    ['flag-quoted', (name) => `tool --${name} "${VALUE} x"`],
    ['query-first', (name) => `/api/v1/x?${name}=${VALUE}&limit=5`],
    ['query-later', (name) => `a=1&${name}=${VALUE}#frag`],
    ['json', (name) => `{"${name}": "${VALUE}"}`],
  ];
  const names: string[] = [];
  for (const word of WORDS) {
    for (const prefix of PREFIXES) {
      for (const separator of prefix === '' ? [''] : SEPARATORS) {
        for (const casing of CASES) names.push(casing(`${prefix}${separator}${word}`));
      }
    }
  }

  it(`redactString: ${names.length} names × ${FORMS.length} forms`, () => {
    const survivors: string[] = [];
    for (const name of names) {
      for (const [form, build] of FORMS) {
        if (form.startsWith('env') && /[-.]/.test(name)) continue;
        const input = build(name);
        const out = redactString(input);
        if (out.includes(VALUE) || !out.includes(REDACTED)) survivors.push(`${form} ${name}: ${out}`);
        else if (!out.includes(name)) survivors.push(`${form} ${name}: the name was lost: ${out}`);
      }
    }
    assert.deepEqual(survivors.slice(0, 20), [], `${survivors.length} values survived`);
  });

  it(`redactValue, redactQuery and isSecretKeyName agree on the same ${names.length} names`, () => {
    const survivors: string[] = [];
    for (const name of names) {
      const asKey = redactValue({ [name]: VALUE });
      if (JSON.stringify(asKey).includes(VALUE)) survivors.push(`key ${name}`);
      if (!isSecretKeyName(name)) survivors.push(`isSecretKeyName ${name}`);
      const argv = redactValue(['tool', `--${name}`, VALUE]);
      if (JSON.stringify(argv).includes(VALUE)) survivors.push(`argv --${name}`);
      const query = redactQuery(`${encodeURIComponent(name)}=${encodeURIComponent(VALUE)}&limit=5`);
      if (query.includes(encodeURIComponent(VALUE)) || query.includes(VALUE)) survivors.push(`query ${name}: ${query}`);
      const execArgv = redactQuery(`command=tool&command=--${encodeURIComponent(name)}&command=${encodeURIComponent(VALUE)}`);
      if (execArgv.includes(encodeURIComponent(VALUE))) survivors.push(`exec argv ${name}: ${execArgv}`);
    }
    assert.deepEqual(survivors.slice(0, 20), [], `${survivors.length} values survived`);
  });

  it('names that only start with, or merely contain, a secret word stay readable, and so do their values', () => {
    // Decided (docs/audit.md "Redaction"): the word must END the name. A setting ABOUT a secret
    // (its policy, lifetime, length, file, name) is not the secret.
    const plain = [
      'password_policy=strict',
      'PASSWORD_LENGTH=12',
      'TOKEN_TTL=3600',
      'tokenTTL=5m',
      'max_tokens=100',
      'secret_name=db-creds',
      'secretName=db-creds',
      'tokenizer=bert',
      'passwordless=true',
      'bypass=cache',
      'compass=north',
      'kubectl --token-file=/var/run/token --password-stdin',
      'kubectl get secret db-password -o name',
      '/api/v1/namespaces/default/secrets?labelSelector=app%3Dweb&limit=500',
      'fieldSelector=type=kubernetes.io/service-account-token',
    ];
    for (const text of plain) assert.equal(redactString(text), text, `stays: ${text}`);
  });
});

describe('Security: redaction of adversarial input completes (linear patterns, bounded input)', () => {
  // Inputs built to make a backtracking pattern retry many ways; each is at the size limit.
  const n = REDACT_MAX_STRING_CHARS;
  const adversarial: ReadonlyArray<readonly [string, string]> = [
    ['jwt-prefixes', 'eyJ' + 'a-'.repeat(n / 2 - 2)],
    ['jwt-segments', ('eyJ' + fill(20) + '.').repeat(Math.floor(n / 24))],
    ['flag-prefixes', '--' + 'a-'.repeat(n / 2 - 1)],
    ['pem-begins', '-----BEGIN RSA PRIVATE KEY-----'.repeat(Math.floor(n / 31))],
    ['url-userinfo', 'http://' + 'a'.repeat(n - 20) + ':'],
    ['env-names', 'A_'.repeat(n / 2)],
    ['glued-env-names', ('=' + 'a'.repeat(63)).repeat(Math.floor(n / 64))],
    ['glued-flag-names', (' --' + 'a.'.repeat(47)).repeat(Math.floor(n / 97))],
    ['json-fields', '"a'.repeat(n / 2)],
    ['spaces-after-bearer', ('Bearer ' + ' '.repeat(20)).repeat(Math.floor(n / 27))],
    ['query-pieces', '&token='.repeat(Math.floor(n / 7))],
    ['header-colons', 'authorization:'.repeat(Math.floor(n / 14))],
  ];
  for (const [id, input] of adversarial) {
    it(`${id} (${input.length} characters)`, () => {
      assert.ok(input.length <= REDACT_MAX_STRING_CHARS, `${id}: within the scanned size`);
      const out = redactString(input);
      assert.equal(typeof out, 'string', `${id}: completes`);
      assert.equal(redactString(out), out, `${id}: stable`);
    });
  }
});

describe('redactValue', () => {
  it('blanks values of secret keys, scrubs keys and nested strings', () => {
    const token = `ghp_${fill(36)}`;
    const out = redactValue({
      Authorization: 'Bearer x',
      headers: { 'Proxy-Authorization': 'Basic abc', 'X-Api-Key': 'k1', accept: 'application/json' },
      client_secret: { nested: 'value' },
      automountServiceAccountToken: false,
      [token]: 'a token used as a key',
      list: [`env GITHUB_TOKEN=${fill(10)}`, 42, null],
    });
    assert.deepEqual(out, {
      Authorization: REDACTED,
      headers: { 'Proxy-Authorization': REDACTED, 'X-Api-Key': REDACTED, accept: 'application/json' },
      client_secret: REDACTED,
      automountServiceAccountToken: false,
      [`ghp_${REDACTED}`]: 'a token used as a key',
      list: [`env GITHUB_TOKEN=${REDACTED}`, 42, null],
    });
  });

  it('blanks the argument after a bare secret flag in an argument list', () => {
    assert.deepEqual(redactValue(['mysql', '--password', 'hunter2', '-h', 'db', '-token', 'abc']), [
      'mysql',
      '--password',
      REDACTED,
      '-h',
      'db',
      '-token',
      REDACTED,
    ]);
  });

  it('stops at the depth bound', () => {
    let deep: unknown = 'Bearer abcdefghijkl';
    for (let i = 0; i < REDACT_MAX_DEPTH + 4; i++) deep = { a: deep };
    let node = redactValue(deep);
    let depth = 0;
    while (typeof node === 'object' && node !== null && depth < 100) {
      node = (node as { a: unknown }).a;
      depth++;
    }
    assert.equal(node, REDACTED, 'depth: the deepest part is replaced');
    assert.equal(depth, REDACT_MAX_DEPTH, 'depth: kept up to the bound');
  });

  it('decodes bytes, converts bigints and uses toJSON', () => {
    const out = redactValue({
      bytes: Buffer.from(`Authorization: Bearer ${fill(20)}`),
      big: 10n ** 20n,
      when: new Date(0),
      url: new URL(`https://user:${fill(12)}@example.com/`),
    });
    assert.deepEqual(out, {
      bytes: `Authorization: ${REDACTED}`,
      big: '100000000000000000000',
      when: '1970-01-01T00:00:00.000Z',
      url: `https://user:${REDACTED}@example.com/`,
    });
  });

  it('survives a cycle (depth bound)', () => {
    const cyclic: Record<string, unknown> = { name: 'loop' };
    cyclic['self'] = cyclic;
    assert.doesNotThrow(() => JSON.stringify(redactValue(cyclic)), 'cycle: serializable');
  });
});

describe('redactQuery', () => {
  const cases: ReadonlyArray<readonly [string, string, string]> = [
    ['secret-name', '?watch=true&access_token=abc123', `?watch=true&access_token=${REDACTED}`],
    ['sig-and-key', 'sv=1&sig=abc%2B&key=AIza', `sv=1&sig=${REDACTED}&key=${REDACTED}`],
    [
      'exec-argv',
      'command=mysql&command=--password&command=hunter2&container=db&stdin=true',
      `command=mysql&command=--password&command=${REDACTED}&container=db&stdin=true`,
    ],
    ['encoded-flag', 'command=sh&command=--password%3Dhunter2', `command=sh&command=--password%3D${REDACTED}`],
    ['exec-argv-glued', 'command=mysql&command=-phunter2&command=app&tty=true', `command=mysql&command=-p${REDACTED}&command=app&tty=true`],
    ['exec-argv-one-letter', 'command=redis-cli&command=-a&command=hunter2&command=ping', `command=redis-cli&command=-a&command=${REDACTED}&command=ping`],
    ['exec-argv-script', 'command=sh&command=-c&command=mysql+-phunter2', `command=sh&command=-c&command=mysql%20-p${REDACTED}`],
    ['exec-argv-openssl', 'command=openssl&command=rsa&command=-passin&command=env%3AK', 'command=openssl&command=rsa&command=-passin&command=env%3AK'],
    ['encoded-bearer', 'note=Bearer+abcdefghijkl', `note=Bearer%20${REDACTED}`],
    ['undecodable', 'a=%E0%A4%A&b=1', 'a=%E0%A4%A&b=1'],
    ['plain', '?labelSelector=app%3Dweb&limit=500&watch=1', '?labelSelector=app%3Dweb&limit=500&watch=1'],
  ];
  for (const [id, input, expected] of cases) {
    it(id, () => assert.equal(redactQuery(input), expected, `${id}: redacted query`));
  }
});

describe('key and flag names', () => {
  const secretKeys = ['Authorization', 'set-cookie', 'client_secret', 'dbPassword', 'access_token', 'X-Amz-Signature', 'sig'];
  const plainKeys = ['secretName', 'tokenTTL', 'resource', 'verb', 'key', 'hash', 'prev'];
  for (const key of secretKeys) it(`secret key ${key}`, () => assert.ok(isSecretKeyName(key), `${key}: secret`));
  for (const key of plainKeys) it(`plain key ${key}`, () => assert.ok(!isSecretKeyName(key), `${key}: not secret`));
  it('bare secret flags', () => {
    for (const flag of ['--password', '-token', '--client-secret', '--registry-password']) {
      assert.ok(isBareSecretFlag(flag), `${flag}: bare secret flag`);
    }
    for (const flag of ['--password=x', '--token-file', '-p', 'password']) {
      assert.ok(!isBareSecretFlag(flag), `${flag}: not a bare secret flag`);
    }
  });
});

/**
 * redactString skips text no family can change (isPlainText: lower-case letters and digits;
 * fewer than 20 letters and digits; lower-case hexadecimal with `TZ:.-`, as in hashes and
 * times). Differential: every family applied directly must leave such text unchanged, for every
 * positive case (none may be plain text) and for generated text built from the pieces secrets
 * start with, in the three classes.
 */
describe('Security: the text redaction skips is text no family changes', () => {
  const scanAll = (text: string): string => REDACTION_FAMILIES.reduce((out, family) => family.apply(out), text);

  it('the audit fields redaction skips are plain text, and the secrets of every positive case are not', () => {
    for (const plain of ['list', 'configmaps', 'default', 'v1', 'allow', '', 'a'.repeat(64), '0123abcdef'.repeat(7), '2026-12-06T22:05:54.123Z', 'ff0a12-17']) {
      assert.ok(isPlainText(plain), `plain: ${plain}`);
      assert.equal(scanAll(plain), plain, `plain: ${plain} is unchanged by every family`);
    }
    for (const c of CASES.filter((c) => c.id.includes('/positive'))) {
      assert.ok(!isPlainText(c.input), `${c.id}: a text with a secret is scanned`);
      if (c.secret !== undefined) assert.ok(!isPlainText(c.secret), `${c.id}: its secret alone is scanned`);
    }
    for (const secret of ['ACCA0123456789ABCDEF', 'AKIA0123456789ABCDEF', `AIza${fill(35)}`, JWT, `sk-${fill(32)}`, `ghp_${fill(36)}`, `hf_${fill(34)}`]) {
      assert.ok(!isPlainText(secret), `${secret}: scanned`);
      assert.notEqual(redactString(secret), secret, `${secret}: redacted`);
    }
  });

  it('no family changes generated plain text (3 classes, 6,000 strings)', () => {
    // Pieces secrets and their labels start with, in each class's alphabet, glued at random.
    const PIECES = [
      'acca', 'akia', 'asia', 'abia', 'aiza', 'eyj', 'ya29', 'sk', 'rk', 'live', 'test', 'glpat', 'npm', 'pypi', 'ghp', 'gho', 'github', 'pat', 'ant',
      'proj', 'hf', 'xoxb', 'kprt', 'bearer', 'basic', 'sig', 'token', 'password', 'secret', 'apikey', 'accesskey', 'privatekey', 'credentials', 'pass',
      'pwd', 'authorization', 'cookie', 'accountkey', 'key', 'code', 'AKIA', 'ACCA', 'ASIA', 'AIza', 'eyJ', 'Bearer', 'TOKEN', 'PASSWORD', 'dead', 'beef',
      'cafe', 'fade', 'T', 'Z', ':', '.', '-', '--', '0', '9', '29', '2026', '12', 'ab', 'f', 'e',
      'mysql', 'curl', 'vault', 'login', 'sshpass', 'redis', 'cli', 'htpasswd', 'sh', 'c', 'p', 'a', 'u', 'w', 'ua',
    ];
    let seed = 0x2545f491;
    const random = (n: number): number => {
      // xorshift32: the same strings on every run.
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) % n;
    };
    let checked = 0;
    for (let attempt = 0; attempt < 200_000 && checked < 6_000; attempt++) {
      let text = '';
      const count = 1 + random(8);
      for (let i = 0; i < count; i++) text += PIECES[random(PIECES.length)];
      if (!isPlainText(text)) continue;
      checked++;
      assert.equal(scanAll(text), text, `plain text ${JSON.stringify(text)}: no family changes it`);
    }
    assert.equal(checked, 6_000, 'enough plain strings were generated');
  });
});
