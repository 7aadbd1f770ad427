/**
 * The agent's reader of HTTP/1.1 requests on one tunnel stream (issue 10: the agent owns
 * upstream framing). A state machine with named states, like ws's receiver: it reads the
 * request line and field lines strictly (message-syntax.ts), decides the framing
 * (request-head.ts), delivers the body as a stream with backpressure, and then **stops**: the
 * next request is not even parsed until the caller has answered this one and calls `next()`.
 * Bytes the client pipelined behind a request wait here (bounded), so nothing the client sent
 * can reach the API server except as a request this reader delimited and the proxy judged.
 *
 * Timers: a connection idle between requests is closed after `idleTimeoutMs`; a head that has
 * started must be complete within `headTimeoutMs` (a slow head holds no slot for long).
 *
 * Untrusted input: every byte of the source (the client's side of the tunnel stream).
 */
import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import type { Duplex } from 'node:stream';
import { ChunkedDecoder, ChunkedFramingError } from './chunked-decoder.js';
import type { HeaderField } from './message-syntax.js';
import { SyntaxProblem, parseFieldLine } from './message-syntax.js';
import type { RequestHead } from './request-head.js';
import { FramingRefusal, interpretRequestHead, parseRequestLine } from './request-head.js';

/** States of the reader, named for what it expects next. */
type ReaderState =
  | 'REQUEST_LINE' // waiting for (the rest of) a request line
  | 'FIELD_LINE' // reading header field lines
  | 'BODY_LENGTH' // a Content-Length body
  | 'BODY_CHUNKED' // a chunked body
  | 'ANSWERING' // the request has been read; nothing more is parsed until next()
  | 'DETACHED' // the connection was upgraded or is being closed: the reader reads no more
  | 'FAILED'; // a framing error was reported

export interface RequestReaderLimits {
  /** Largest request head (request line and field lines), in bytes. */
  readonly headMaxBytes: number;
  /** Most field lines in a head. */
  readonly headerMaxCount: number;
  /** Longest chunk-size line, and most trailer bytes, of a chunked body. */
  readonly chunkLineMaxBytes: number;
  readonly trailerMaxBytes: number;
  /** Bytes held behind a request that is being answered before the source is paused. */
  readonly pipelineMaxBytes: number;
  /** A started head must be complete within this time. */
  readonly headTimeoutMs: number;
  /** A connection with no request in progress is closed after this time. */
  readonly idleTimeoutMs: number;
}

/** One request as read: its head and its body (already ended when there is none). */
export interface IncomingRequest {
  readonly head: RequestHead;
  readonly body: Readable;
  /** Body bytes read so far (decoded), counted without consuming the body stream. */
  readonly bodyBytes: number;
}

export interface RequestReaderEvents {
  /** A head was read and accepted. The body streams on `request.body`. */
  request: [request: IncomingRequest];
  /**
   * The input cannot be read as a request: answer `refusal.status` and close. `inBody` is true
   * when a request whose head was accepted is in flight: its body is destroyed with the same
   * error, and whoever is answering that request answers this too.
   */
  refused: [refusal: FramingRefusal, inBody: boolean];
  /** The client ended the connection (or was idle too long) between requests. */
  end: [];
}

const LF = 0x0a;
const CR = 0x0d;

export class RequestReader extends EventEmitter<RequestReaderEvents> {
  readonly #source: Duplex;
  readonly #limits: RequestReaderLimits;
  #state: ReaderState = 'REQUEST_LINE';
  #buffer: Buffer = Buffer.alloc(0);
  /** Where the search for the end of the current line resumes, within #buffer. */
  #scanFrom = 0;
  #headBytes = 0;
  #requestLine: Pick<RequestHead, 'method' | 'target' | 'version'> | undefined;
  #fields: HeaderField[] = [];
  #body: Readable | undefined;
  #request: { head: RequestHead; body: Readable; bodyBytes: number } | undefined;
  #bodyRemaining = 0;
  #chunked: ChunkedDecoder | undefined;
  #sourceEnded = false;
  /** A request head has started arriving (its deadline runs). */
  #headStarted = false;
  #timer: NodeJS.Timeout | undefined;
  readonly #onData = (chunk: Buffer): void => this.#receive(chunk);
  readonly #onEnd = (): void => this.#ended();
  /**
   * The stream was destroyed (the tunnel stream reset, the client gone) without an end: a body
   * in flight can never complete, so it is failed at once and the request forwarded with it is
   * cancelled upstream, instead of holding an API server stream or pooled connection open.
   */
  readonly #onClose = (): void => {
    if (this.#state === 'BODY_LENGTH' || this.#state === 'BODY_CHUNKED') this.#fail(new FramingRefusal(400, 'the connection closed inside the request body'));
  };

  constructor(source: Duplex, limits: RequestReaderLimits) {
    super();
    this.#source = source;
    this.#limits = limits;
    source.on('data', this.#onData);
    source.on('end', this.#onEnd);
    source.on('close', this.#onClose);
    this.#armIdle();
  }

  /** The current request has been answered: read the next one (from bytes already held, first). */
  next(): void {
    if (this.#state !== 'ANSWERING') return;
    this.#state = 'REQUEST_LINE';
    this.#headStarted = false;
    if (this.#buffer.length > 0) this.#startHead();
    else this.#armIdle();
    this.#source.resume();
    this.#drive();
  }

  /**
   * Stop reading and hand over what the client sent after the current head (an upgraded
   * connection's first bytes). The source stays paused; the caller reads it from now on.
   */
  detach(): Buffer {
    this.#state = 'DETACHED';
    this.#clearTimer();
    this.#source.off('data', this.#onData);
    this.#source.off('end', this.#onEnd);
    this.#source.off('close', this.#onClose);
    this.#source.pause();
    const rest = this.#buffer;
    this.#buffer = Buffer.alloc(0);
    return rest;
  }

  #receive(chunk: Buffer): void {
    if (this.#buffer.length === 0) this.#buffer = chunk;
    else this.#buffer = Buffer.concat([this.#buffer, chunk]);
    if (this.#state === 'REQUEST_LINE' && !this.#headStarted) this.#startHead();
    this.#drive();
  }

  /** Parse as far as the state allows. */
  #drive(): void {
    try {
      for (;;) {
        const progressed = this.#step();
        if (!progressed) break;
      }
    } catch (err) {
      if (err instanceof FramingRefusal) this.#fail(err);
      else if (err instanceof SyntaxProblem || err instanceof ChunkedFramingError) this.#fail(new FramingRefusal(400, err.message));
      else throw err;
      return;
    }
    if (this.#state === 'ANSWERING' && this.#buffer.length > this.#limits.pipelineMaxBytes) this.#source.pause();
    if (this.#sourceEnded) this.#ended();
  }

  /** One step of the state machine; false when it needs more input or must wait. */
  #step(): boolean {
    switch (this.#state) {
      case 'REQUEST_LINE':
      case 'FIELD_LINE':
        return this.#readLine();
      case 'BODY_LENGTH':
        return this.#readLengthBody();
      case 'BODY_CHUNKED':
        return this.#readChunkedBody();
      case 'ANSWERING':
      case 'DETACHED':
      case 'FAILED':
        return false;
    }
  }

  #readLine(): boolean {
    const end = this.#buffer.indexOf(LF, this.#scanFrom);
    if (end === -1) {
      this.#scanFrom = this.#buffer.length;
      if (this.#headBytes + this.#buffer.length > this.#limits.headMaxBytes) throw new FramingRefusal(431, 'the request head is too large');
      // A CR anywhere but right before the LF is never valid: refuse it as soon as it is seen.
      const cr = this.#buffer.indexOf(CR);
      if (cr !== -1 && cr < this.#buffer.length - 1) throw new FramingRefusal(400, 'a bare CR in the request head');
      return false;
    }
    this.#headBytes += end + 1;
    if (this.#headBytes > this.#limits.headMaxBytes) throw new FramingRefusal(431, 'the request head is too large');
    if (end === 0 || this.#buffer[end - 1] !== CR) throw new FramingRefusal(400, 'a line of the request head ends in a bare LF');
    const line = this.#buffer.toString('latin1', 0, end - 1);
    this.#buffer = this.#buffer.subarray(end + 1);
    this.#scanFrom = 0;
    if (line.includes('\r')) throw new FramingRefusal(400, 'a bare CR in the request head');
    if (this.#state === 'REQUEST_LINE') {
      if (line === '') throw new FramingRefusal(400, 'an empty line where the request line should be');
      this.#requestLine = parseRequestLine(line);
      this.#state = 'FIELD_LINE';
      return true;
    }
    if (line !== '') {
      if (this.#fields.length >= this.#limits.headerMaxCount) throw new FramingRefusal(431, 'too many header fields');
      this.#fields.push(parseFieldLine(line));
      return true;
    }
    this.#headComplete();
    return true;
  }

  #headComplete(): void {
    const line = this.#requestLine;
    if (line === undefined) throw new FramingRefusal(400, 'a head without a request line');
    const head = interpretRequestHead({ ...line, headers: this.#fields });
    this.#clearTimer();
    this.#headStarted = false;
    this.#requestLine = undefined;
    this.#fields = [];
    this.#headBytes = 0;
    const body = new Readable({ read: () => this.#source.resume() });
    this.#body = body;
    const framing = head.framing;
    if (head.upgrade !== undefined || framing.kind === 'none' || (framing.kind === 'length' && framing.length === 0)) {
      body.push(null);
      this.#state = 'ANSWERING';
    } else if (framing.kind === 'length') {
      this.#bodyRemaining = framing.length;
      this.#state = 'BODY_LENGTH';
    } else {
      this.#chunked = new ChunkedDecoder({ lineMaxBytes: this.#limits.chunkLineMaxBytes, trailerMaxBytes: this.#limits.trailerMaxBytes });
      this.#state = 'BODY_CHUNKED';
    }
    this.#request = { head, body, bodyBytes: 0 };
    this.emit('request', this.#request);
  }

  #push(data: Buffer): void {
    if (data.length === 0) return;
    if (this.#request !== undefined) this.#request.bodyBytes += data.length;
    if (this.#body?.push(data) === false) this.#source.pause();
  }

  #readLengthBody(): boolean {
    if (this.#buffer.length === 0) return false;
    const take = Math.min(this.#bodyRemaining, this.#buffer.length);
    this.#push(this.#buffer.subarray(0, take));
    this.#buffer = this.#buffer.subarray(take);
    this.#bodyRemaining -= take;
    if (this.#bodyRemaining === 0) this.#bodyDone();
    return true;
  }

  #readChunkedBody(): boolean {
    if (this.#buffer.length === 0) return false;
    const decoder = this.#chunked!;
    const used = decoder.decode(this.#buffer, (data) => this.#push(data));
    this.#buffer = this.#buffer.subarray(used);
    if (decoder.done) this.#bodyDone();
    return true;
  }

  #bodyDone(): void {
    this.#body?.push(null);
    this.#chunked = undefined;
    this.#state = 'ANSWERING';
  }

  #fail(refusal: FramingRefusal): void {
    const inBody = this.#state === 'BODY_LENGTH' || this.#state === 'BODY_CHUNKED';
    this.#state = 'FAILED';
    this.#clearTimer();
    this.#source.off('data', this.#onData);
    this.#source.pause();
    this.#buffer = Buffer.alloc(0);
    if (inBody) this.#body?.destroy(refusal);
    this.emit('refused', refusal, inBody);
  }

  #ended(): void {
    this.#sourceEnded = true;
    switch (this.#state) {
      case 'REQUEST_LINE':
        if (this.#buffer.length === 0 && this.#headBytes === 0) {
          this.#state = 'DETACHED';
          this.#clearTimer();
          this.emit('end');
        } else {
          this.#fail(new FramingRefusal(400, 'the connection ended inside an unfinished request head'));
        }
        return;
      case 'FIELD_LINE':
        this.#fail(new FramingRefusal(400, 'the connection ended inside an unfinished request head'));
        return;
      case 'BODY_LENGTH':
      case 'BODY_CHUNKED':
        this.#fail(new FramingRefusal(400, 'the connection ended inside the request body'));
        return;
      case 'ANSWERING':
      case 'DETACHED':
      case 'FAILED':
        return; // decided when next() runs
    }
  }

  #armIdle(): void {
    this.#clearTimer();
    this.#timer = setTimeout(() => {
      if (this.#state !== 'REQUEST_LINE' || this.#buffer.length > 0) return;
      this.#state = 'DETACHED';
      this.emit('end');
    }, this.#limits.idleTimeoutMs);
    this.#timer.unref();
  }

  /** The first byte of a head arrived: from now on the whole head has a deadline. */
  #startHead(): void {
    this.#headStarted = true;
    this.#clearTimer();
    this.#timer = setTimeout(() => this.#fail(new FramingRefusal(408, 'the request head did not arrive in time')), this.#limits.headTimeoutMs);
    this.#timer.unref();
  }

  #clearTimer(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
