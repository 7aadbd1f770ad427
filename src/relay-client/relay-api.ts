/**
 * The relay's HTTP API from the caller's side (docs/design.md §3): `createSession()` for the agent
 * and `pair(nameplate)` for the client. Requests carry the relay token in `Authorization: Bearer`,
 * never in the URL; answers are size-bounded, time-bounded, schema-validated, and a relay
 * error becomes the KubepairError of its code (relay-error-mapping.ts). Redirects are not
 * followed. Through the endpoint's HTTPS proxy when it has one (relay-connection.ts). A 401
 * to a request that carried no token says where a token would come from; a 429 or 503 keeps
 * its `Retry-After` on the error (retry-after.ts). Untrusted input:
 * everything the relay answers.
 */
import { request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { KubepairError } from '../errors/index.js';
import { RELAY_CLIENT_REQUEST_TIMEOUT_MS, RELAY_CLIENT_RESPONSE_MAX_BYTES } from '../limits.js';
import { PROTOCOL } from '../version.js';
import { connectionError, relayAgent } from './relay-connection.js';
import { resolveRelay } from './relay-endpoint.js';
import type { RelayEndpoint } from './relay-endpoint.js';
import { errorFromRelayAnswer } from './relay-error-mapping.js';
import { parseRetryAfter } from './retry-after.js';
import { API_PAIR_PATH, API_SESSIONS_PATH, CreateSessionResponseSchema, NAMEPLATE_PATTERN, PairResponseSchema } from '../protocol/relay-api.js';
import type { CreateSessionResponse, PairResponse } from '../protocol/relay-api.js';

export interface RelayCallOptions {
  readonly signal?: AbortSignal | undefined;
  /** Overall deadline of the request (default RELAY_CLIENT_REQUEST_TIMEOUT_MS). */
  readonly timeoutMs?: number | undefined;
}

/** A new session, as the agent needs it. */
export interface CreatedSession {
  readonly sessionId: string;
  readonly nameplate: string;
  readonly agentKey: string;
  readonly expiresAt: Date;
}

/** A successful pairing claim, as the client needs it. */
export interface PairedSession {
  readonly sessionId: string;
  readonly clientKey: string;
  readonly expiresAt: Date;
}

interface JsonAnswer {
  readonly status: number;
  readonly body: unknown;
  /** The answer's `Retry-After`, parsed and bounded (retry-after.ts); undefined when absent or malformed. */
  readonly retryAfterMs: number | undefined;
}

/** POST `body` as JSON to `path` of the relay; resolves with the status and parsed JSON body. */
function postJson(endpoint: RelayEndpoint, path: string, body: unknown, options: RelayCallOptions): Promise<JsonAnswer> {
  const relay = resolveRelay(endpoint);
  const payload = Buffer.from(JSON.stringify(body), 'utf8');
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    accept: 'application/json',
    'content-length': String(payload.length),
  };
  if (endpoint.token !== undefined) headers['authorization'] = `Bearer ${endpoint.token}`;
  const target = new URL(relay.httpBase + path);
  const request = relay.secure ? httpsRequest : httpRequest;
  const timeoutMs = options.timeoutMs ?? RELAY_CLIENT_REQUEST_TIMEOUT_MS;

  return new Promise<JsonAnswer>((resolve, reject) => {
    let settled = false;
    const agent = relayAgent(endpoint, relay);
    const req = request(target, { method: 'POST', headers, ca: endpoint.ca, signal: options.signal, ...(agent !== undefined && { agent }) });
    const timer = setTimeout(() => fail(new KubepairError('KP_ERR_RELAY_UNREACHABLE', `${target.host} did not answer within ${timeoutMs} ms`)), timeoutMs);
    function fail(err: KubepairError): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(err);
    }
    function succeed(answer: JsonAnswer): void {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(answer);
    }
    req.on('error', (err) => {
      if (options.signal?.aborted === true) fail(new KubepairError('KP_ERR_ABORTED', undefined, { cause: err }));
      else fail(connectionError(err, target.host, endpoint));
    });
    req.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > RELAY_CLIENT_RESPONSE_MAX_BYTES) {
          fail(new KubepairError('KP_ERR_RELAY_BAD_RESPONSE', `answer larger than ${RELAY_CLIENT_RESPONSE_MAX_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', (err) => fail(new KubepairError('KP_ERR_RELAY_UNREACHABLE', `${target.host}: ${err.message}`, { cause: err })));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const type = String(res.headers['content-type'] ?? '');
        const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
        if (!type.startsWith('application/json')) {
          // A proxy's or load balancer's page: still a 429/503 whose Retry-After counts.
          const retry = (status === 429 || status === 503) && retryAfterMs !== undefined ? { retryAfterMs } : {};
          fail(new KubepairError('KP_ERR_RELAY_BAD_RESPONSE', `HTTP ${status} with content type ${JSON.stringify(type.slice(0, 60))}`, retry));
          return;
        }
        try {
          succeed({ status, body: JSON.parse(text) as unknown, retryAfterMs });
        } catch (err) {
          fail(new KubepairError('KP_ERR_RELAY_BAD_RESPONSE', `HTTP ${status} with a body that is not JSON`, { cause: err }));
        }
      });
    });
    req.end(payload);
  });
}

/** The relay's error for a failed call; a refusal of a call without a token says how to give one. */
function callError(endpoint: RelayEndpoint, answer: JsonAnswer): KubepairError {
  const error = errorFromRelayAnswer(answer.status, answer.body, answer.retryAfterMs);
  if (error.code !== 'KP_ERR_RELAY_UNAUTHORIZED' || endpoint.token !== undefined) return error;
  return new KubepairError(
    'KP_ERR_RELAY_UNAUTHORIZED',
    'kubepair sent no relay token: set KUBEPAIR_TOKEN, or store one with "kubepair token set --relay URL"',
    { cause: error },
  );
}

/**
 * The error of a refused pairing, in the user's words. A nameplate with no waiting session is a
 * stale or mistyped code, not a wrong secret (that one fails later, in the handshake, as
 * KP_ERR_PAIRING_FAILED): say so with the nameplate the user typed, never the relay's text.
 */
function pairError(error: KubepairError, nameplate: string): KubepairError {
  if (error.code !== 'KP_ERR_RELAY_NAMEPLATE_UNKNOWN') return error;
  return new KubepairError('KP_ERR_RELAY_NAMEPLATE_UNKNOWN', `${nameplate}-... expired, was used already, or was mistyped; ask for a new code`, { cause: error });
}

/** Agent: create a session (scope `agent`). */
export async function createSession(endpoint: RelayEndpoint, options: RelayCallOptions = {}): Promise<CreatedSession> {
  const answer = await postJson(endpoint, API_SESSIONS_PATH, { protocol: PROTOCOL }, options);
  if (answer.status !== 201) throw callError(endpoint, answer);
  const parsed = CreateSessionResponseSchema.safeParse(answer.body);
  if (!parsed.success) throw new KubepairError('KP_ERR_RELAY_BAD_RESPONSE', 'the session answer does not match the protocol');
  const body: CreateSessionResponse = parsed.data;
  return { sessionId: body.session_id, nameplate: body.nameplate, agentKey: body.agent_key, expiresAt: new Date(body.expires_at) };
}

/** Client: claim the session waiting under `nameplate` (scope `client`). */
export async function pair(endpoint: RelayEndpoint, nameplate: string, options: RelayCallOptions = {}): Promise<PairedSession> {
  if (!new RegExp(NAMEPLATE_PATTERN).test(nameplate)) {
    throw new KubepairError('KP_ERR_PAIRING_CODE_MALFORMED', 'the nameplate must be a number from 1 without leading zeros');
  }
  const answer = await postJson(endpoint, API_PAIR_PATH, { nameplate }, options);
  if (answer.status !== 200) throw pairError(callError(endpoint, answer), nameplate);
  const parsed = PairResponseSchema.safeParse(answer.body);
  if (!parsed.success) throw new KubepairError('KP_ERR_RELAY_BAD_RESPONSE', 'the pairing answer does not match the protocol');
  const body: PairResponse = parsed.data;
  return { sessionId: body.session_id, clientKey: body.client_key, expiresAt: new Date(body.expires_at) };
}
