/**
 * The sharer's approval prompt on a terminal (issue 14): what it shows about a held request,
 * that client-chosen text reaches the terminal inert, that one key answers exactly the request
 * on the screen (keys typed ahead are dropped), and that raw mode is held only while a request
 * waits, with Ctrl-C raising SIGINT as the terminal would.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import type { ApprovalRequest, SessionRules } from '../../../src/agent/approval-queue.js';
import { ApprovalQueue } from '../../../src/agent/approval-queue.js';
import { ApprovalPrompt, approvalPromptLines } from '../../../src/cli/approval-prompt.js';
import { KubepairError } from '../../../src/errors/index.js';
import { FakeTerminal } from '../../helpers/fake-terminal.js';

function request(name: string, extra: Partial<ApprovalRequest> = {}): ApprovalRequest {
  return { session: 'sess1234abcd', client: 'client', requestId: 'r', description: 'delete pods', tier: 3, why: 'deletion', verb: 'delete', namespace: 'default', name, rules: [`delete pods default/${name}`], ...extra };
}

/** A session with room for rules, that takes them ("approve for the session" succeeds). */
const SESSION: SessionRules = { room: () => 32, add: () => Promise.resolve() };

function promptOn(queue: ApprovalQueue): { terminal: FakeTerminal; screen: () => string; signals: string[]; prompt: ApprovalPrompt } {
  const terminal = new FakeTerminal();
  const output = new PassThrough();
  let text = '';
  output.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
  const signals: string[] = [];
  const prompt = new ApprovalPrompt({ queue, input: terminal, output, raise: (signal) => signals.push(signal) });
  return { terminal, screen: () => text, signals, prompt };
}

describe('approval prompt', () => {
  it('shows who asks, what, where, the rule that would allow it, how many wait and the keys', () => {
    const queue = new ApprovalQueue({ timeoutMs: 60_000 });
    void queue.hold(request('web'), undefined, SESSION);
    void queue.hold(request('db'), undefined, SESSION);
    const lines = approvalPromptLines(queue.pending[0]!, 2, new Date());
    assert.equal(lines[0], 'kubepair share: approval needed for request #1 (2 waiting)');
    assert.equal(lines[1], '  client:   client (session sess1234)');
    assert.equal(lines[2], '  request:  delete pods (namespace default, name web), tier 3: deletion');
    assert.equal(lines[3], '  allowed by: --allow "delete pods default/web"');
    assert.match(lines[4]!, /^ {2}declined unless answered by .+; 1 more waiting$/);
    assert.equal(lines[5], '  [y] approve once   [s] approve for this session (adds --allow "delete pods default/web")   [n] decline   [N] decline all 2');
    queue.close();
  });

  it('one key answers the request on the screen; keys typed ahead in the same read are dropped', async () => {
    const queue = new ApprovalQueue({ timeoutMs: 60_000 });
    const { terminal, screen, prompt } = promptOn(queue);
    const first = queue.hold(request('web'), undefined, SESSION);
    const second = queue.hold(request('db'), undefined, SESSION);
    assert.equal(terminal.raw, true);
    terminal.emit('data', Buffer.from('yy'));
    assert.equal((await first).result, 'approved_once');
    assert.deepEqual(queue.pending.map((p) => p.name), ['db'], 'the second y did not answer the next request');
    assert.match(screen(), /approval needed for request #2 \(1 waiting\)/, 'the next request is shown');
    terminal.emit('data', 's');
    assert.equal((await second).result, 'approved_session');
    assert.match(screen(), /request #2 approved for this session \(--allow "delete pods default\/db"\)/);
    assert.equal(terminal.raw, false, 'raw mode ends when nothing waits');
    prompt.close();
    queue.close();
  });

  it('Security: a key meant for a request that ended without it (timeout, withdrawal, kubepair approve) never answers the next one', async () => {
    const queue = new ApprovalQueue({ timeoutMs: 60_000 });
    const { terminal, screen, prompt } = promptOn(queue);
    const first = queue.hold(request('web'), undefined, SESSION);
    const second = queue.hold(request('db'), undefined, SESSION);
    // Request #1 is on the screen; it is declined elsewhere (control socket) as the sharer types y.
    await queue.answer(queue.pending[0]!.id, 'decline');
    assert.equal((await first).result, 'declined');
    terminal.emit('data', 'y');
    assert.deepEqual(queue.pending.map((p) => p.name), ['db'], 'the y meant for #1 did not approve #2');
    assert.match(screen(), /request #1 ended without your answer: press space to answer request #2/);
    terminal.emit('data', ' ');
    terminal.emit('data', 'y');
    assert.equal((await second).result, 'approved_once', 'after space, y answers the request on the screen');
    prompt.close();
    queue.close();
  });

  it('"s" whose policy change cannot be made: the screen says the request was refused, not approved for the session, and why', async () => {
    const queue = new ApprovalQueue({ timeoutMs: 60_000 });
    const { terminal, screen, prompt } = promptOn(queue);
    const unaudited: SessionRules = { room: () => 32, add: () => Promise.reject(new KubepairError('KP_ERR_SESSION_CHANGE_UNAUDITED', 'EFBIG')) };
    const held = queue.hold(request('web'), undefined, unaudited);
    terminal.emit('data', 's');
    assert.equal((await held).result, 'session_change_failed');
    assert.match(
      screen(),
      /kubepair share: request #1 refused, not approved for this session: the request was not approved for the session, and is refused: its rule could not be added to the session's policy: the change was not made: its audit record cannot be written \(fail closed\): EFBIG\n/,
    );
    assert.doesNotMatch(screen(), /request #1 approved/);
    prompt.close();
    queue.close();
  });

  it('Ctrl-C while a request waits raises SIGINT (raw mode turned it into a byte)', () => {
    const queue = new ApprovalQueue({ timeoutMs: 60_000 });
    const { terminal, signals, prompt } = promptOn(queue);
    void queue.hold(request('web'), undefined, SESSION);
    terminal.emit('data', '\u0003');
    assert.deepEqual(signals, ['SIGINT']);
    assert.equal(queue.pending.length, 1, 'Ctrl-C answers nothing');
    prompt.close();
    queue.close();
  });

  describe('Security: client text at the prompt', () => {
    it('names, namespaces, client labels and rules reach the terminal inert (no escape sequence, no line break, no carriage return)', () => {
      const queue = new ApprovalQueue({ timeoutMs: 60_000 });
      const { screen, prompt } = promptOn(queue);
      const hostile = '\u001b]0;owned\u0007\u001b[2J\r\nkubepair share: request #1 approved once\u009b31m\u202e';
      void queue.hold(request(hostile, { namespace: hostile, client: hostile, session: hostile, why: hostile, description: hostile, rules: [hostile] }), undefined, SESSION);
      queue.declineAll();
      const text = screen();
      const controls = [...text].filter((char) => char !== '\n' && (char.charCodeAt(0) < 0x20 || (char.charCodeAt(0) >= 0x7f && char.charCodeAt(0) <= 0x9f) || char === '\u202e'));
      assert.deepEqual(controls, [], `only printable text and line ends reach the terminal: ${JSON.stringify(text)}`);
      const lines = text.split('\n');
      assert.ok(!lines.some((line) => line.startsWith('kubepair share: request #1 approved once')), 'a client cannot forge a status line');
      assert.match(text, /\\x1b\]0;owned\\x07/, 'the escape is shown, visibly');
      prompt.close();
      queue.close();
    });
  });
});
