/**
 * One source for the relay API's schemas (src/protocol/relay-api.ts → src/relay/route-schemas.ts):
 * the relay's Fastify routes validate with JSON Schemas generated from the zod schemas the relay
 * client parses with. A differential check on a real relay process: for every body in a table
 * of good and bad ones, the relay refuses it with 400 exactly when the zod schema refuses it.
 * And the answers the relay sends parse with the zod schemas the client uses.
 */
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { z } from 'zod';
import {
  CreateSessionRequestSchema,
  CreateSessionResponseSchema,
  EndSessionParamsSchema,
  NAMEPLATE_PATTERN,
  PairRequestSchema,
  PairResponseSchema,
  SESSION_ID_PATTERN,
  SESSION_KEY_PATTERN,
} from '../../../src/protocol/relay-api.js';
import { NAMEPLATE_MAX_DIGITS } from '../../../src/limits.js';
import { jsonSchemaOf, relayRouteSchemas } from '../../../src/relay/route-schemas.js';
import { repoPath } from '../../helpers/paths.js';
import { api, errorCode, startRelay } from '../../helpers/relay-process.js';
import type { StartedRelay } from '../../helpers/relay-process.js';

const T = { timeout: 60_000 };

/** Case name → body (undefined: send the raw JSON text `null`). */
type BodyCase = readonly [name: string, body: unknown];

const CREATE_BODIES: readonly BodyCase[] = [
  ['the protocol', { protocol: 'kubepair/1' }],
  ['no field', {}],
  ['another protocol', { protocol: 'kubepair/2' }],
  ['the protocol as a number', { protocol: 1 }],
  ['the protocol as null', { protocol: null }],
  ['an unknown field besides', { protocol: 'kubepair/1', extra: 1 }],
  ['the field name in another case', { Protocol: 'kubepair/1' }],
  ['an array', [{ protocol: 'kubepair/1' }]],
  ['a JSON string', 'kubepair/1'],
  ['JSON null', null],
  ['the protocol with a trailing newline', { protocol: 'kubepair/1\n' }],
];

const PAIR_BODIES: readonly BodyCase[] = [
  ['a nameplate nobody holds', { nameplate: '99999' }],
  ['the longest nameplate', { nameplate: '9'.repeat(NAMEPLATE_MAX_DIGITS) }],
  ['a leading zero', { nameplate: '042' }],
  ['zero', { nameplate: '0' }],
  ['a number instead of a string', { nameplate: 42 }],
  ['one digit too many', { nameplate: '9'.repeat(NAMEPLATE_MAX_DIGITS + 1) }],
  ['a trailing newline', { nameplate: '7\n' }],
  ['a trailing space', { nameplate: '7 ' }],
  ['Arabic-Indic digits', { nameplate: '\u0667' }],
  ['an empty nameplate', { nameplate: '' }],
  ['no field', {}],
  ['an unknown field besides', { nameplate: '7', extra: true }],
  ['the whole code instead of the nameplate', { nameplate: '7-1234-5678' }],
];

const SESSION_IDS: readonly string[] = ['A'.repeat(22), 'not-an-id', 'A'.repeat(21), 'A'.repeat(23), `${'A'.repeat(21)}=`, `${'A'.repeat(21)}.`];

function accepts(schema: z.ZodType, value: unknown): boolean {
  return schema.safeParse(value).success;
}

describe('relay route schemas are generated from the protocol module', () => {
  let relay: StartedRelay;
  before(async () => {
    relay = await startRelay({ args: ['--rate-limit', '10000'] });
  });
  after(() => relay.dispose());

  it('Security: POST /api/v1/sessions refuses (400) exactly the bodies the zod schema refuses', T, async () => {
    for (const [name, body] of CREATE_BODIES) {
      const answer = await api(relay, 'POST', '/api/v1/sessions', { token: relay.tokens.agent, rawBody: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
      const refused = answer.status === 400;
      assert.equal(refused, !accepts(CreateSessionRequestSchema, body), `${name}: relay ${answer.status} ${JSON.stringify(answer.body)}`);
      if (refused) assert.equal(errorCode(answer), 'KP_ERR_RELAY_INVALID_REQUEST', name);
      else assert.equal(answer.status, 201, name);
    }
  });

  it('Security: POST /api/v1/pair refuses (400) exactly the bodies the zod schema refuses', T, async () => {
    for (const [name, body] of PAIR_BODIES) {
      const answer = await api(relay, 'POST', '/api/v1/pair', { token: relay.tokens.client, rawBody: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
      const refused = answer.status === 400;
      assert.equal(refused, !accepts(PairRequestSchema, body), `${name}: relay ${answer.status} ${JSON.stringify(answer.body)}`);
      // A well-formed nameplate nobody holds passes the schema and is refused by the handler.
      assert.equal(errorCode(answer), refused ? 'KP_ERR_RELAY_INVALID_REQUEST' : 'KP_ERR_RELAY_NAMEPLATE_UNKNOWN', name);
    }
  });

  it('Security: DELETE /api/v1/sessions/{id} refuses (400) exactly the ids the zod schema refuses', T, async () => {
    for (const id of SESSION_IDS) {
      const answer = await api(relay, 'DELETE', `/api/v1/sessions/${encodeURIComponent(id)}`, { token: relay.tokens.admin });
      const refused = answer.status === 400;
      assert.equal(refused, !accepts(EndSessionParamsSchema, { session_id: id }), `${JSON.stringify(id)}: relay ${answer.status}`);
      assert.equal(errorCode(answer), refused ? 'KP_ERR_RELAY_INVALID_REQUEST' : 'KP_ERR_RELAY_SESSION_NOT_FOUND', id);
    }
  });

  it('the answers of a real pairing parse with the schemas the relay client uses', T, async () => {
    const created = await api(relay, 'POST', '/api/v1/sessions', { token: relay.tokens.agent, body: { protocol: 'kubepair/1' } });
    assert.equal(created.status, 201);
    const session = CreateSessionResponseSchema.parse(created.body);
    const paired = await api(relay, 'POST', '/api/v1/pair', { token: relay.tokens.client, body: { nameplate: session.nameplate } });
    assert.equal(paired.status, 200, JSON.stringify(paired.body));
    assert.equal(PairResponseSchema.parse(paired.body).session_id, session.session_id);
  });

  it('the generated answer schemas keep every pattern (the hand-written pair answer had lost them)', () => {
    const schemas = relayRouteSchemas();
    const properties = (schema: Record<string, unknown>): Record<string, Record<string, unknown>> => schema['properties'] as Record<string, Record<string, unknown>>;
    const pair = properties(schemas.pair.response[200]);
    assert.equal(pair['session_id']?.['pattern'], SESSION_ID_PATTERN);
    assert.equal(pair['client_key']?.['pattern'], SESSION_KEY_PATTERN);
    assert.equal(pair['expires_at']?.['format'], 'date-time');
    const created = properties(schemas.createSession.response[201]);
    assert.equal(created['nameplate']?.['pattern'], NAMEPLATE_PATTERN);
    assert.equal(created['agent_key']?.['pattern'], SESSION_KEY_PATTERN);
    for (const schema of [schemas.createSession.body, schemas.pair.body, schemas.endSession.params, schemas.pair.response[200], schemas.createSession.response[201]]) {
      assert.equal(schema['additionalProperties'], false, JSON.stringify(schema));
      assert.equal(schema['$schema'], undefined, 'Fastify keys its schemas itself');
    }
    assert.deepEqual(schemas.pair.body, jsonSchemaOf(PairRequestSchema, 'input'));
  });

  it('no JSON Schema is written by hand anywhere in src/ (the relay registers only generated ones)', async () => {
    const offenders: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) {
          await walk(path);
          continue;
        }
        if (!entry.name.endsWith('.ts')) continue;
        // Code, not comments: a schema literal has `additionalProperties:` or `type: 'object'` outside a comment line.
        const code = (await readFile(path, 'utf8')).split('\n').filter((line) => !/^\s*(\*|\/\/|\/\*)/.test(line));
        if (code.some((line) => /additionalProperties\s*:|\btype:\s*'object'/.test(line))) offenders.push(path);
      }
    };
    await walk(repoPath('src'));
    assert.deepEqual(offenders, []);
  });
});
