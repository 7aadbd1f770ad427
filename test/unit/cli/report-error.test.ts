/** How a failure reaches the user (src/cli/report-error.ts): one inert line, the registry's exit code. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { reportError } from '../../../src/cli/report-error.js';
import { KubepairError } from '../../../src/errors/index.js';

const ACTIVE = /(?!\n)[\p{Cc}\p{Cf}]/u;

describe('Security: error messages that quote a peer or the relay reach the terminal inert', () => {
  it('escape sequences, line breaks and bidi controls in a message are shown, not obeyed', () => {
    const err = new KubepairError('KP_ERR_SESSION_DESCRIPTION', 'Unrecognized key: "\u001b]0;pwned\u0007"\n  policy:  readonly\u202e');
    const report = reportError(err, false);
    assert.equal(report.text, 'kubepair: the agent sent an invalid session description: Unrecognized key: "\\x1b]0;pwned\\x07"\\x0a  policy:  readonly\\u202e\n');
    assert.equal(report.exitCode, 1);
  });

  it('the debug chain is inert too, one line per cause', () => {
    const cause = Object.assign(new Error('relay said \u001b[2J\r\nfake'), { code: 'E\u001bX' });
    const report = reportError(new KubepairError('KP_ERR_RELAY_BAD_RESPONSE', 'x', { cause }), true);
    const lines = report.text.split('\n').filter((line) => line !== '');
    assert.equal(lines.length, 3, report.text);
    for (const line of lines) assert.doesNotMatch(line, ACTIVE, line);
    assert.match(lines[2]!, /^ {2}\[debug\] Error E\\x1bX: relay said \\x1b\[2J\\x0d\\x0afake$/);
  });

  it('a message is bounded', () => {
    const report = reportError(new KubepairError('KP_ERR_INTERNAL', 'x'.repeat(100_000)), false);
    assert.ok(report.text.length < 1100, String(report.text.length));
  });
});
