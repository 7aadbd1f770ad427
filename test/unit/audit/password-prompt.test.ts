/**
 * Telling a password prompt from the recorded output (src/audit/password-prompt.ts): the prompt
 * lines of common programs are recognised, lines that merely mention a password are not, escape
 * sequences and frame splits do not change the verdict, and hostile output stays cheap.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { isPasswordPrompt, PASSWORD_PROMPT, PromptWatcher } from '../../../src/audit/password-prompt.js';
import { PASSWORD_PROMPT_LINE_MAX_CHARS } from '../../../src/limits.js';

/** Prompts as real programs print them (trailing spaces included). */
const PROMPTS: readonly string[] = [
  'Password: ', // su, docker login
  '[sudo] password for alice: ', // sudo
  'Enter password: ', // mysql -p, mongosh
  "Enter passphrase for key '/root/.ssh/id_ed25519': ", // ssh
  'Enter passphrase for /root/.ssh/id_rsa: ', // ssh-add
  'Password for user postgres: ', // psql
  'Current password: ', // passwd
  'New password: ',
  'Retype new password: ',
  'Re-type new password: ', // htpasswd
  '(current) UNIX password: ',
  'Enter new UNIX password: ',
  "alice@db.example.com's password: ", // ssh
  'Enter passphrase (empty for no passphrase): ', // ssh-keygen
  'Enter same passphrase again: ',
  "Password for 'https://alice@github.com': ", // git
  'Enter PEM pass phrase:', // openssl
  'Verifying - Enter PEM pass phrase:',
  'Password (again): ', // Django createsuperuser
  'Vault password: ', // ansible
  'BECOME password: ',
  "Enter host password for user 'bob':", // curl -u bob
  'Enter LDAP Password: ', // ldapsearch -W
  'Password for alice@EXAMPLE.COM: ', // kinit
  'Token (will be hidden): ', // vault login
  'Verification code: ', // google-authenticator
  'PIN: ',
  "Enter PIN for 'PIV Card Holder pin (PIV_II)': ",
  "One-time password (OATH) for `alice': ",
  '  Password:   ',
];

/** Lines that mention a password but ask for none. */
const NOT_PROMPTS: readonly string[] = [
  'password_policy = strict',
  'password_policy:',
  'db_password:',
  'mypassword:',
  'Passwords:',
  'Last password change: never',
  'Changing password for alice.',
  'BAD PASSWORD: The password is shorter than 8 characters',
  'passwd: password updated successfully',
  'Error: wrong password:',
  'The password is stored in /etc/shadow and nowhere else:',
  'Password: hunter2',
  'password',
  'alice@host:~$ ',
  'root@web-0:/# ',
  'mysql> ',
  'postgres=# ',
  '',
];

function watcherAfter(...chunks: string[]): PromptWatcher {
  const watcher = new PromptWatcher();
  for (const chunk of chunks) watcher.output(chunk);
  return watcher;
}

describe('password prompt pattern', () => {
  for (const line of PROMPTS) {
    it(`a prompt: ${JSON.stringify(line)}`, () => assert.equal(isPasswordPrompt(line), true));
  }
  for (const line of NOT_PROMPTS) {
    it(`not a prompt: ${JSON.stringify(line)}`, () => assert.equal(isPasswordPrompt(line), false));
  }

  it('a line longer than the bound is not a prompt, whatever it ends in', () => {
    const long = `${'x'.repeat(PASSWORD_PROMPT_LINE_MAX_CHARS)} Password:`;
    assert.equal(isPasswordPrompt(long), false);
    assert.equal(watcherAfter(long).atPrompt(), false);
    assert.equal(watcherAfter(long, '\r\nPassword: ').atPrompt(), true, 'the next line is judged afresh');
  });

  it('Security: hostile lines near the bound are judged quickly (no catastrophic backtracking)', () => {
    const hostile = [
      `${'a '.repeat(250)}`,
      `${'a '.repeat(4)}password for ${"'x".repeat(120)}`,
      `password for ${'x '.repeat(240)}`,
      `${'[sudo] '.repeat(70)}password`,
      `password (${'('.repeat(200)}`,
      `Enter password for ${'`'.repeat(240)}`,
      `${'p'.repeat(64)} `.repeat(7),
    ];
    for (const line of hostile) {
      const text = line.slice(0, PASSWORD_PROMPT_LINE_MAX_CHARS);
      const started = performance.now();
      for (let i = 0; i < 200; i++) PASSWORD_PROMPT.test(text);
      assert.ok(performance.now() - started < 500, `${JSON.stringify(text.slice(0, 40))}: 200 tests in under 500 ms`);
    }
  });
});

describe('PromptWatcher: the last output line as the terminal shows it', () => {
  it('a prompt after earlier lines is seen; the output after it (a new line) ends it', () => {
    const watcher = watcherAfter('$ sudo ls\r\n', '[sudo] password for alice: ');
    assert.equal(watcher.atPrompt(), true);
    watcher.output('\r\n');
    assert.equal(watcher.atPrompt(), false);
    watcher.output('Sorry, try again.\r\n[sudo] password for alice: ');
    assert.equal(watcher.atPrompt(), true);
  });

  it('a prompt split across output frames anywhere is seen', () => {
    const output = '\x1b]0;alice@web-0: ~\x07\x1b[01;32malice@web-0\x1b[00m:~$ sudo -k ls\r\n\x1b[1m[sudo] password for alice:\x1b[0m ';
    for (let cut = 0; cut <= output.length; cut++) {
      for (const second of [cut, Math.min(output.length, cut + 3)]) {
        const watcher = watcherAfter(output.slice(0, cut), output.slice(cut, second), output.slice(second));
        assert.equal(watcher.atPrompt(), true, `cut at ${cut} and ${second}`);
      }
    }
  });

  it('escape sequences in the prompt line are not text: colours, cursor moves, OSC titles (BEL and ST), charset switches, C1 forms', () => {
    const cases = [
      '\x1b[1;31mPassword:\x1b[0m ',
      '\x1b]0;root@db: ~\x07Enter password: ',
      '\x1b]2;a title with Password: in it\x1b\\Enter password: \x1b[K',
      '\x1b(BPassword:\x1b)0 ',
      '\x1b[?2004lPassword: \x1b[?25h',
      '\x9b1mPassword:\x9b0m ',
      '\x9d0;title\x9cPassword: ',
      '\x1bP1$r0m\x1b\\PIN: ',
      'Pass\x1b[0mword: ',
      'progress 100%\rPassword: ',
      'ls\x1b[1\r\nPassword: ',
      // A line break inside an OSC title is not one (the terminal ignores it there).
      'Password: \x1b]0;a\nb\x07',
      '\x1b]0;title\x07$ sudo -k\r\n[sudo] password for alice: ',
      '\tPassword:\t',
    ];
    for (const output of cases) assert.equal(watcherAfter(output).atPrompt(), true, JSON.stringify(output));
    const notPrompts = [
      // The prompt is only inside a title or a string the terminal does not show.
      '\x1b]0;Password:\x07',
      '\x1b]0;Password:\x1b\\',
      '\x1bPPassword:\x1b\\',
      // Shown text after the prompt on the same line.
      'Password: \x1b[1mhunter2',
      // A line break inside a CSI sequence still breaks the line.
      'Password:\x1b[\n',

      // An unterminated title hides what follows, as it does on the terminal.
      '\x1b]0;title Password: ',
    ];
    for (const output of notPrompts) assert.equal(watcherAfter(output).atPrompt(), false, JSON.stringify(output));
  });

  it('output in chunks of any size gives the verdicts that output one character at a time gives (the skip to the last line break is exact)', () => {
    let seed = 11;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const alphabet = ['\x1b', '[', ']', 'P', '\\', '\x07', '\x9c', '\x9d', '\r', '\n', '\r\n', '\x18', '1;31m', ' ', 'ls -la', 'Password: ', '[sudo] password for alice: ', '\x1b]0;t\x07', '\x1b[0m', 'é'];
    let prompts = 0;
    for (let session = 0; session < 300; session++) {
      const chunked = new PromptWatcher();
      const byCharacter = new PromptWatcher();
      for (let chunk = 0; chunk < 30; chunk++) {
        const text = Array.from({ length: Math.floor(random() * 12) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
        chunked.output(text);
        for (const character of text) byCharacter.output(character);
        assert.equal(chunked.atPrompt(), byCharacter.atPrompt(), `session ${session}, chunk ${chunk}: ${JSON.stringify(text)}`);
        if (chunked.atPrompt()) prompts++;
      }
    }
    assert.ok(prompts > 100, `${prompts} verdicts were "a prompt"`);
  });

  it('Security: a storm of random control and escape bytes never throws and keeps the line bounded', () => {
    let seed = 7;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed / 2 ** 32;
    };
    const alphabet = ['\x1b', '[', ']', 'P', '\\', '\x07', '\x9b', '\x9c', '\x9d', '\r', '\n', '\x18', 'a', ' ', ':', 'm', '0', ';', 'Password', '\x08', '\x7f', 'é'];
    const watcher = new PromptWatcher();
    for (let i = 0; i < 2000; i++) {
      const chunk = Array.from({ length: Math.floor(random() * 80) }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
      watcher.output(chunk);
      watcher.atPrompt();
    }
    // Whatever state the storm left, a clean prompt after a string terminator and a new line is seen.
    watcher.output('\x07\x1b\\\x18\r\nPassword: ');
    assert.equal(watcher.atPrompt(), true);
  });
});
