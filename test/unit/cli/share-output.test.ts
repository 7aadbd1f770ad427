/**
 * What `kubepair share` prints when audit records cannot be written (docs/audit.md "In the
 * agent"): the cause at once, then at most one line per interval while failures go on.
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { ShareOutput, byteCountText } from '../../../src/cli/share-output.js';
import { KubepairError } from '../../../src/errors/index.js';

function capture(): { stream: NodeJS.WriteStream; text(): string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { stream: stream as unknown as NodeJS.WriteStream, text: () => Buffer.concat(chunks).toString('utf8') };
}

type RequestRecord = Parameters<ShareOutput['request']>[0];

/** A request record as the agent audits it: `fields` plus what every record carries. */
function requestRecord(fields: Omit<RequestRecord, 'event' | 'session' | 'client' | 'bytes_in' | 'bytes_out' | 'response_sha256' | 'duration_ms'>): RequestRecord {
  return { event: 'request', session: 's', client: 'c', bytes_in: 0, bytes_out: 0, response_sha256: '0'.repeat(64), duration_ms: 1, ...fields };
}

function writeError(): KubepairError {
  const cause = Object.assign(new Error("EISDIR: illegal operation on a directory, unlink '/state/audit.jsonl.10'"), { code: 'EISDIR' });
  return new KubepairError('KP_ERR_AUDIT_WRITE', 'cannot write /state/audit.jsonl', { cause });
}

describe('share output: request lines', () => {
  it('Security: a secret in a request path is redacted from the line share prints', () => {
    const err = capture();
    const token = `ghp_${'A1b2C3d4E5'.repeat(4)}`;
    new ShareOutput(capture().stream, err.stream).request(
      requestRecord({
        request_id: 'abc123-1',
        method: 'GET',
        verb: 'get',
        path: `/debug/${token}`,
        tier: 1,
        decision: 'allow',
        status: 404,
      }),
    );
    assert.equal(err.text(), '    404 get /debug/ghp_[REDACTED]\n');
  });
});

describe('share output: subresources', () => {
  it('an exec is shown as "create pods/exec", the way the client was told', () => {
    const err = capture();
    new ShareOutput(capture().stream, err.stream).request(
      requestRecord({
        request_id: 'abc123-2',
        method: 'POST',
        verb: 'create',
        resource: 'pods',
        subresource: 'exec',
        namespace: 'team-a',
        name: 'web-1',
        path: '/api/v1/namespaces/team-a/pods/web-1/exec',
        tier: 2,
        decision: 'allow',
        status: 101,
      }),
    );
    assert.equal(err.text(), '    101 create pods/exec team-a web-1\n');
  });
});

describe('Security: share prints nothing a hostile client or relay can use on the terminal', () => {
  const ACTIVE = /(?!\n)[\p{Cc}\p{Cf}]/u;

  it('request fields the client chose are shown inert, each on the one request line', () => {
    const err = capture();
    new ShareOutput(capture().stream, err.stream).request(
      requestRecord({
        request_id: 'abc123-2',
        method: 'GET\u001b]0;t\u0007',
        verb: 'get\u001b[2K',
        resource: 'pods\r  ! 403 fake line',
        path: '/api/v1/namespaces/x/pods',
        namespace: 'x\u001b]52;c;ZXZpbA==\u0007',
        name: 'web\u009b1A\u202e',
        tier: 3,
        decision: 'deny',
        rule: 'deny "delete \u001b[31m*"',
        status: 403,
      }),
    );
    const text = err.text();
    assert.doesNotMatch(text, ACTIVE, JSON.stringify(text));
    assert.equal(text.split('\n').length, 2, 'one line');
    assert.equal(
      text,
      '  ! 403 get\\x1b[2K pods\\x0d  ! 403 fake line x\\x1b]52;c;ZXZpbA==\\x07 web\\x9b1A\\u202e (refused: deny "delete \\x1b[31m*")\n',
    );
  });

  it('error messages that quote the client or the relay are shown inert', () => {
    const err = capture();
    const output = new ShareOutput(capture().stream, err.stream);
    output.attemptFailed(1, 5, new KubepairError('KP_ERR_TRANSPORT_CLOSED', 'close code 4999: \u001b]0;owned\u0007'));
    output.disconnected(new KubepairError('KP_ERR_CHANNEL_PROTOCOL', 'bad \u001b[2J frame'));
    output.auditFailed(new KubepairError('KP_ERR_AUDIT_WRITE', 'x', { cause: new Error('\u001b]52;c;ZXZpbA==\u0007') }), false);
    const text = err.text();
    assert.doesNotMatch(text, ACTIVE, JSON.stringify(text));
    assert.match(text, /close code 4999: \\x1b\]0;owned\\x07/);
    assert.match(text, /bad \\x1b\[2J frame/);
  });
});

describe('share output: audit failures', () => {
  it('prints the first failure with its cause and what the agent does about it', () => {
    const out = capture();
    const err = capture();
    const output = new ShareOutput(out.stream, err.stream);
    output.auditFailed(writeError(), false);
    assert.equal(
      err.text(),
      "kubepair share: audit log: the audit log cannot be written: cannot write /state/audit.jsonl (EISDIR: illegal operation on a directory, unlink '/state/audit.jsonl.10'); every new connection and request is refused until it can be written again\n",
    );
    assert.equal(out.text(), '', 'nothing on stdout, which scripts read for the code');
  });

  it('says requests are still served under --audit-fail-open', () => {
    const err = capture();
    new ShareOutput(capture().stream, err.stream).auditFailed(writeError(), true);
    assert.match(err.text(), /; --audit-fail-open: connections and requests are still served, without a record\n$/);
  });

  it('does not print a line for every failed record while the failures go on', () => {
    const err = capture();
    const output = new ShareOutput(capture().stream, err.stream);
    for (let i = 0; i < 50; i++) output.auditFailed(writeError(), false);
    assert.equal(err.text().split('\n').filter((line) => line !== '').length, 1);
  });
});

describe('share output: forwarded TCP connections', () => {
  it('one line when a connection opens, one when it closes with its duration and the bytes each way', () => {
    const err = capture();
    const output = new ShareOutput(capture().stream, err.stream);
    output.connectionOpened({ target: 'db', streamId: 5 });
    output.connectionClosed({ target: 'db', streamId: 5 }, { bytesIn: 120, bytesOut: 4200, durationMs: 1234 });
    assert.equal(err.text(), '  > db: connection #5 opened\n  < db: connection #5 closed after 1.2 s (120 B from the client, 4.1 KiB to it)\n');
  });

  it('Security: the error that ended a connection is shown inert, on one line', () => {
    const err = capture();
    new ShareOutput(capture().stream, err.stream).connectionClosed(
      { target: 'db', streamId: 7 },
      { bytesIn: 0, bytesOut: 0, durationMs: 3, error: new Error('connect ECONNREFUSED\n\u001b]0;owned\u0007') },
    );
    assert.equal(err.text(), '  < db: connection #7 closed after 3 ms (0 B from the client, 0 B to it); connect ECONNREFUSED\\x0a\\x1b]0;owned\\x07\n');
  });

  it('byte counts for a person', () => {
    const cases: ReadonlyArray<[number, string]> = [[0, '0 B'], [1023, '1023 B'], [1024, '1.0 KiB'], [3000, '2.9 KiB'], [5 * 1024 * 1024, '5.0 MiB'], [3 * 1024 ** 3, '3.0 GiB'], [2 * 1024 ** 5, '2048.0 TiB']];
    for (const [bytes, text] of cases) assert.equal(byteCountText(bytes), text, String(bytes));
  });
});
