/**
 * The agent's HTTP/1.1 request reader (issue 10): framing is decided here and nowhere else.
 * Each case feeds raw bytes (whole, and split at every byte boundary where cheap) and checks
 * exactly what the reader accepted or refused, with which status. A random-mutation run checks
 * the invariant that the reader never throws, never reads past a refusal, and never parses a
 * request while the previous one is being answered.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import type { IncomingRequest, RequestReaderLimits } from '../../../../src/agent/http1/request-reader.js';
import { RequestReader } from '../../../../src/agent/http1/request-reader.js';
import type { FramingRefusal } from '../../../../src/agent/http1/request-head.js';

const LIMITS: RequestReaderLimits = {
  headMaxBytes: 8 * 1024,
  headerMaxCount: 32,
  chunkLineMaxBytes: 256,
  trailerMaxBytes: 1024,
  pipelineMaxBytes: 4 * 1024,
  headTimeoutMs: 60_000,
  idleTimeoutMs: 60_000,
};

interface Seen {
  readonly requests: Array<{ method: string; target: string; framing: string; body: string; upgrade?: string; close: boolean }>;
  readonly refusals: Array<{ status: number; message: string; inBody: boolean }>;
  ended: boolean;
}

/** Feed `input` in pieces of `step` bytes; answer each request at once (calling next()). */
async function read(input: Buffer | string, options: { step?: number; limits?: Partial<RequestReaderLimits>; end?: boolean } = {}): Promise<Seen> {
  const source = new PassThrough();
  const reader = new RequestReader(source, { ...LIMITS, ...options.limits });
  const seen: Seen = { requests: [], refusals: [], ended: false };
  const pending: Array<Promise<void>> = [];
  reader.on('request', (request: IncomingRequest) => {
    pending.push(
      (async () => {
        const chunks: Buffer[] = [];
        try {
          for await (const chunk of request.body) chunks.push(chunk as Buffer);
        } catch {
          return; // a refusal inside the body; recorded by 'refused'
        }
        const { head } = request;
        seen.requests.push({
          method: head.method,
          target: head.target,
          framing: head.framing.kind === 'length' ? `length:${head.framing.length}` : head.framing.kind,
          body: Buffer.concat(chunks).toString('latin1'),
          ...(head.upgrade !== undefined && { upgrade: head.upgrade }),
          close: head.close,
        });
        setImmediate(() => reader.next());
      })(),
    );
  });
  reader.on('refused', (refusal: FramingRefusal, inBody: boolean) => seen.refusals.push({ status: refusal.status, message: refusal.message, inBody }));
  reader.on('end', () => (seen.ended = true));
  const bytes = Buffer.isBuffer(input) ? input : Buffer.from(input, 'latin1');
  const step = options.step ?? bytes.length;
  for (let offset = 0; offset < bytes.length; offset += step) {
    source.write(bytes.subarray(offset, offset + step));
    await new Promise((resolve) => setImmediate(resolve));
  }
  if (options.end !== false) source.end();
  for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
  await Promise.all(pending);
  return seen;
}

const GET = 'GET /api/v1/pods HTTP/1.1\r\nHost: k\r\n\r\n';

describe('request reader: well-formed requests', () => {
  it('reads a GET, then the next pipelined one only after the first was answered', async () => {
    const seen = await read(GET + 'GET /version HTTP/1.1\r\nHost: k\r\n\r\n');
    assert.deepEqual(seen.requests.map((r) => r.target), ['/api/v1/pods', '/version']);
    assert.deepEqual(seen.refusals, []);
    assert.equal(seen.ended, true);
  });

  it('splits at every byte boundary and still reads the same requests', async () => {
    const input = 'POST /api/v1/namespaces/d/configmaps HTTP/1.1\r\nHost: k\r\nContent-Length: 5\r\n\r\nhello' + 'PUT /x HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrail: x\r\n\r\n' + GET;
    for (const step of [1, 2, 3, 7, 64]) {
      const seen = await read(input, { step });
      assert.deepEqual(
        seen.requests.map((r) => `${r.method} ${r.framing} ${r.body}`),
        ['POST length:5 hello', 'PUT chunked abcde', 'GET none '],
        `step ${step}`,
      );
      assert.deepEqual(seen.refusals, [], `step ${step}`);
    }
  });

  it('an upgrade request is read with its protocol and nothing after its head is parsed', async () => {
    const seen = await read('GET /api/v1/namespaces/d/pods/p/exec?command=sh HTTP/1.1\r\nHost: k\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x82\x05hello');
    assert.equal(seen.requests.length, 1);
    assert.equal(seen.requests[0]!.upgrade, 'websocket');
    // The test answers it like an ordinary request, so the reader goes on to the frame bytes and refuses them.
    assert.equal(seen.refusals[0]?.status, 400);
  });

  it('Upgrade without Connection: upgrade is no upgrade; Connection: close is kept', async () => {
    const seen = await read('GET /api/v1/pods HTTP/1.1\r\nHost: k\r\nUpgrade: websocket\r\nConnection: close\r\n\r\n');
    assert.equal(seen.requests[0]!.upgrade, undefined);
    assert.equal(seen.requests[0]!.close, true);
  });
});

/** [id, raw request bytes, status the reader must refuse with]. */
const REFUSED: ReadonlyArray<readonly [string, string, number]> = [
  ['CL.TE', 'POST /x HTTP/1.1\r\nHost: k\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
  ['TE.CL', 'POST /x HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n', 400],
  ['TE gzip, chunked', 'POST /x HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', 501],
  ['TE chunked, chunked', 'POST /x HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n', 501],
  ['TE twice', 'POST /x HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
  ['TE xchunked', 'POST /x HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n', 501],
  ['TE with vertical tab', 'POST /x HTTP/1.1\r\nHost: k\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n', 400],
  ['TE space before colon', 'POST /x HTTP/1.1\r\nHost: k\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n', 400],
  ['TE obs-fold', 'POST /x HTTP/1.1\r\nHost: k\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n', 400],
  ['CL twice same', 'POST /x HTTP/1.1\r\nHost: k\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\na', 400],
  ['CL list', 'POST /x HTTP/1.1\r\nHost: k\r\nContent-Length: 1, 1\r\n\r\na', 400],
  ['CL signed', 'POST /x HTTP/1.1\r\nHost: k\r\nContent-Length: +1\r\n\r\na', 400],
  ['CL hex', 'POST /x HTTP/1.1\r\nHost: k\r\nContent-Length: 0x1\r\n\r\na', 400],
  ['CL huge', 'POST /x HTTP/1.1\r\nHost: k\r\nContent-Length: 1234567890123456\r\n\r\na', 400],
  ['body on GET (CL)', 'GET /x HTTP/1.1\r\nHost: k\r\nContent-Length: 5\r\n\r\nhello', 400],
  ['body on GET (chunked)', 'GET /x HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
  ['body on HEAD', 'HEAD /x HTTP/1.1\r\nHost: k\r\nContent-Length: 1\r\n\r\na', 400],
  ['bare LF in head', 'GET /x HTTP/1.1\nHost: k\n\n', 400],
  ['bare LF after a header', 'GET /x HTTP/1.1\r\nHost: k\nX: y\r\n\r\n', 400],
  ['bare CR in head', 'GET /x HTTP/1.1\r\nHost: k\rX: y\r\n\r\n', 400],
  ['NUL in a value', 'GET /x HTTP/1.1\r\nHost: k\r\nX: a\x00b\r\n\r\n', 400],
  ['obs-fold', 'GET /x HTTP/1.1\r\nHost: k\r\nX: a\r\n b\r\n\r\n', 400],
  ['HTTP/1.0', 'GET /x HTTP/1.0\r\nHost: k\r\nConnection: keep-alive\r\n\r\n', 505],
  ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 505],
  ['absolute-form', 'GET https://evil/api/v1/secrets HTTP/1.1\r\nHost: k\r\n\r\n', 400],
  ['authority-form', 'CONNECT evil:443 HTTP/1.1\r\nHost: evil:443\r\n\r\n', 405],
  ['asterisk-form', 'OPTIONS * HTTP/1.1\r\nHost: k\r\n\r\n', 400],
  ['unknown method', 'TRACE /x HTTP/1.1\r\nHost: k\r\n\r\n', 405],
  ['no Host', 'GET /x HTTP/1.1\r\n\r\n', 400],
  ['two Hosts', 'GET /x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400],
  ['two Content-Types', 'POST /x HTTP/1.1\r\nHost: k\r\nContent-Type: a/b\r\nContent-Type: c/d\r\nContent-Length: 0\r\n\r\n', 400],
  ['Expect other than 100-continue', 'POST /x HTTP/1.1\r\nHost: k\r\nExpect: 200-ok\r\nContent-Length: 0\r\n\r\n', 417],
  ['double space in request line', 'GET  /x HTTP/1.1\r\nHost: k\r\n\r\n', 400],
  ['tab in request line', 'GET\t/x HTTP/1.1\r\nHost: k\r\n\r\n', 400],
  ['empty line before the request', '\r\nGET /x HTTP/1.1\r\nHost: k\r\n\r\n', 400],
  ['non-ASCII target', 'GET /x\xff HTTP/1.1\r\nHost: k\r\n\r\n', 400],
  ['fragment', 'GET /x#y HTTP/1.1\r\nHost: k\r\n\r\n', 400],
  ['upgrade with a body', 'POST /api/v1/namespaces/d/pods/p/exec HTTP/1.1\r\nHost: k\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nContent-Length: 1\r\n\r\na', 400],
  ['Connection lists a non-token', 'GET /x HTTP/1.1\r\nHost: k\r\nConnection: a b\r\n\r\n', 400],
  ['unfinished head', 'GET /x HTTP/1.1\r\nHost: k\r\n', 400],
  ['unfinished request line', 'GET /x HT', 400],
];

describe('Security: request reader refuses ambiguous framing before anything is judged', () => {
  for (const [id, raw, status] of REFUSED) {
    it(`${id} → ${status}, and no request is read`, async () => {
      const seen = await read(raw);
      assert.deepEqual(seen.requests, [], `${id}: nothing accepted`);
      assert.equal(seen.refusals.length, 1, `${id}: one refusal`);
      assert.equal(seen.refusals[0]!.status, status, `${id}: ${seen.refusals[0]!.message}`);
    });
  }

  it('a second request behind a refused one is never read', async () => {
    const seen = await read('GET /x HTTP/1.1\r\nHost: k\r\nContent-Length: 9\r\n\r\n' + 'DELETE /api/v1/namespaces/default/pods/web-0 HTTP/1.1\r\nHost: k\r\n\r\n');
    assert.deepEqual(seen.requests, []);
    assert.equal(seen.refusals.length, 1);
  });
});

/** [id, chunked body bytes] that must be refused inside the body. */
const BAD_CHUNKS: ReadonlyArray<readonly [string, string]> = [
  ['size with space', ' 3\r\nabc\r\n0\r\n\r\n'],
  ['size with 0x', '0x3\r\nabc\r\n0\r\n\r\n'],
  ['size negative', '-3\r\nabc\r\n0\r\n\r\n'],
  ['size too long', '00000000000000003\r\nabc\r\n0\r\n\r\n'],
  ['size not hex', 'g\r\nabc\r\n0\r\n\r\n'],
  ['size bare LF', '3\nabc\r\n0\r\n\r\n'],
  ['data not followed by CRLF', '3\r\nabcX\r\n0\r\n\r\n'],
  ['data longer than the size', '3\r\nabcd\r\n0\r\n\r\n'],
  ['extension with space', '3 ;a=b\r\nabc\r\n0\r\n\r\n'],
  ['extension quoted', '3;a="b"\r\nabc\r\n0\r\n\r\n'],
  ['huge extension', `3;${'a'.repeat(300)}\r\nabc\r\n0\r\n\r\n`],
  ['malformed trailer', '0\r\nno colon\r\n\r\n'],
  ['trailer bare LF', '0\r\nA: b\n\r\n'],
  ['trailer too long', `0\r\nA: ${'b'.repeat(2000)}\r\n\r\n`],
  ['ends inside the body', '5\r\nab'],
];

describe('Security: chunked bodies are decoded strictly', () => {
  for (const [id, body] of BAD_CHUNKS) {
    it(`${id} → 400 inside the body`, async () => {
      const seen = await read(`POST /x HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked\r\n\r\n${body}GET /smuggled HTTP/1.1\r\nHost: k\r\n\r\n`);
      assert.equal(seen.refusals.length, 1, `${id}: one refusal (${JSON.stringify(seen.refusals)})`);
      assert.equal(seen.refusals[0]!.status, 400, id);
      assert.equal(seen.refusals[0]!.inBody, true, id);
      assert.ok(!seen.requests.some((r) => r.target === '/smuggled'), `${id}: the smuggled request was never read`);
    });
  }
});

describe('request reader: limits and timers', () => {
  it('a head over the limit is refused with 431 before it is complete', async () => {
    const seen = await read(`GET /x HTTP/1.1\r\nHost: k\r\nX: ${'a'.repeat(LIMITS.headMaxBytes)}`, { end: false });
    assert.equal(seen.refusals[0]?.status, 431);
  });

  it('more header fields than allowed are refused with 431', async () => {
    const seen = await read(`GET /x HTTP/1.1\r\nHost: k\r\n${'X: y\r\n'.repeat(LIMITS.headerMaxCount)}\r\n`);
    assert.equal(seen.refusals[0]?.status, 431);
  });

  it('a head that trickles in is cut at its deadline (408), however often bytes arrive', async () => {
    const source = new PassThrough();
    const reader = new RequestReader(source, { ...LIMITS, headTimeoutMs: 300 });
    const refused = new Promise<number>((resolve) => reader.on('refused', (refusal) => resolve(refusal.status)));
    const trickle = setInterval(() => source.write('a'), 20); // also keeps the process alive
    try {
      source.write('GET /');
      assert.equal(await refused, 408);
    } finally {
      clearInterval(trickle);
    }
  });

  it('an idle connection ends quietly after the idle timeout', async () => {
    const source = new PassThrough();
    const reader = new RequestReader(source, { ...LIMITS, idleTimeoutMs: 100 });
    // The reader's timers do not hold the process open; this bounded one does, for the test.
    const guard = setTimeout(() => undefined, 5_000);
    try {
      await new Promise<void>((resolve) => reader.on('end', resolve));
    } finally {
      clearTimeout(guard);
    }
  });

  it('Security: a stream destroyed inside a body fails the body at once (the forwarded request is cancelled, not left open upstream)', async () => {
    for (const body of ['Content-Length: 100\r\n\r\nhalf', 'Transfer-Encoding: chunked\r\n\r\n10\r\nhalf']) {
      const source = new PassThrough();
      const reader = new RequestReader(source, LIMITS);
      const refusals: Array<{ message: string; inBody: boolean }> = [];
      reader.on('refused', (refusal: FramingRefusal, inBody: boolean) => refusals.push({ message: refusal.message, inBody }));
      const requested = new Promise<IncomingRequest>((resolve) => reader.once('request', resolve));
      source.write(`POST /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: k\r\n${body}`);
      const request = await requested;
      const failed = new Promise<Error>((resolve) => request.body.once('error', resolve));
      request.body.resume();
      source.destroy();
      const error = await failed;
      assert.match(error.message, /closed inside the request body/, body);
      assert.deepEqual(refusals, [{ message: 'the connection closed inside the request body', inBody: true }], body);
    }
  });

  it('bytes pipelined behind a request being answered are held, bounded, and not parsed', async () => {
    const source = new PassThrough();
    const reader = new RequestReader(source, LIMITS);
    const requests: string[] = [];
    reader.on('request', (request) => requests.push(request.head.target));
    source.write(GET + 'GET /second HTTP/1.1\r\nHost: k\r\n\r\n' + 'x'.repeat(LIMITS.pipelineMaxBytes + 1));
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(requests, ['/api/v1/pods'], 'only the first is read while it is being answered');
    assert.equal(source.isPaused(), true, 'the source is paused past the pipeline bound');
    reader.next();
    assert.deepEqual(requests, ['/api/v1/pods', '/second']);
  });
});

describe('Security: request reader under random mutation', () => {
  const SEEDS = [
    'GET /api/v1/namespaces/default/configmaps HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'POST /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: k\r\nContent-Length: 2\r\n\r\n{}',
    'POST /x HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\nDELETE /api/v1/namespaces/default/pods/web-0 HTTP/1.1\r\nHost: k\r\n\r\n',
    'GET /api/v1/namespaces/d/pods/p/exec HTTP/1.1\r\nHost: k\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n',
  ];
  const MUTATIONS = 400;

  it(`${MUTATIONS} mutated inputs: never a throw, every accepted request is well-formed, nothing read after a refusal`, async () => {
    const tokens = ['\r\n', '\n', '\r', ' ', '\t', ':', ',', '0', 'chunked', 'Content-Length: 1', 'Transfer-Encoding: chunked', '\x00', '\x7f', '\xff'];
    for (let i = 0; i < MUTATIONS; i++) {
      const seed = Buffer.from(SEEDS[i % SEEDS.length]!, 'latin1');
      const random = randomBytes(8);
      const at = random.readUInt16BE(0) % seed.length;
      const cut = random[2]! % 4;
      const insert = random[3]! % 2 === 0 ? Buffer.from(tokens[random[4]! % tokens.length]!, 'latin1') : random.subarray(5, 6);
      const mutated = Buffer.concat([seed.subarray(0, at), insert, seed.subarray(at + cut)]);
      const seen = await read(mutated, { step: 1 + (random[7]! % 9) });
      for (const request of seen.requests) {
        assert.match(request.method, /^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)$/, `case ${i}: ${JSON.stringify(mutated.toString('latin1'))}`);
        assert.match(request.target, /^\/[\x21-\x7e]*$/, `case ${i}`);
        if (request.method === 'GET' || request.method === 'HEAD') assert.equal(request.body, '', `case ${i}: a ${request.method} got no body`);
      }
      assert.ok(seen.refusals.length <= 1, `case ${i}: at most one refusal, then the reader stops`);
    }
  });
});
