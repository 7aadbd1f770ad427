/**
 * The relay's Fastify route schemas (docs/design.md §3), generated from the zod schemas of the
 * protocol module (src/protocol/relay-api.ts) with `z.toJSONSchema`, instead of being written a
 * second time by hand: a hand-written copy had already drifted (the pair answer had lost its
 * patterns). Fastify compiles the request schemas into its Ajv validator and the answer schemas
 * into its serializer; strict objects become `additionalProperties: false`.
 *
 * Draft-07 is what Fastify's Ajv speaks; the `$schema` key is dropped because Fastify keys its
 * schemas itself. A zod construct that JSON Schema cannot express makes `toJSONSchema` throw
 * at start-up (`unrepresentable: 'throw'`), so a schema can never be silently loosened here.
 *
 * Untrusted input: none here; the schemas are applied to every request by Fastify.
 */
import * as z from 'zod';
import {
  CreateSessionRequestSchema,
  CreateSessionResponseSchema,
  EndSessionParamsSchema,
  PairRequestSchema,
  PairResponseSchema,
  ProbeStatusSchema,
} from '../protocol/relay-api.js';

export type JsonSchema = Record<string, unknown>;

/** The JSON Schema of `schema`: what it accepts (`input`, for requests) or produces (`output`, for answers). */
export function jsonSchemaOf(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _dialect, ...json } = z.toJSONSchema(schema, { target: 'draft-7', io, unrepresentable: 'throw' });
  return json;
}

/** Route schemas in Fastify's shape; each call builds fresh objects (Fastify may annotate them). */
export function relayRouteSchemas() {
  return {
    createSession: {
      body: jsonSchemaOf(CreateSessionRequestSchema, 'input'),
      response: { 201: jsonSchemaOf(CreateSessionResponseSchema, 'output') },
    },
    pair: {
      body: jsonSchemaOf(PairRequestSchema, 'input'),
      response: { 200: jsonSchemaOf(PairResponseSchema, 'output') },
    },
    endSession: {
      params: jsonSchemaOf(EndSessionParamsSchema, 'input'),
    },
    probe: {
      response: { 200: jsonSchemaOf(ProbeStatusSchema, 'output') },
    },
  } as const;
}
