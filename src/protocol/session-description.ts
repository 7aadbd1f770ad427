/**
 * The session description: the agent's first CONTROL message after pairing (docs/design.md §4,
 * normative shape; docs/protocol.md "Session description"). It tells the client what it is connected to:
 *
 *   {"type":"session","cluster":{"name","server_name"?,"ca"?},"mode":"proxy"|"passthrough",
 *    "policy":{...},"targets":[...],"credentials"?:{...},"expires_at", "namespace"?}
 *
 * The client validates it strictly (bounded sizes, no unknown fields, cross-field rules) and
 * refuses anything else with KP_ERR_SESSION_DESCRIPTION. The cluster name stays untrusted
 * after validation: it is sanitized at every use (session/cluster-name.ts).
 */
import * as z from 'zod';
import { SESSION_TARGETS_MAX } from '../limits.js';
import { CONTROL_TYPES } from './channel-control.js';
import { policyShapeSchema } from './policy-shape.js';
import { isValidTargetName, KUBE_API_TARGET } from './target-name.js';
import { parseWith } from './validate.js';
import { RELAY_RESUME_WINDOW_MAX_S } from '../limits.js';

const PEM_MAX_CHARS = 32 * 1024; // 32 KiB per PEM field
const pemCertificates = z
  .string()
  .max(PEM_MAX_CHARS)
  .regex(/^(-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----\r?\n?)+$/, 'PEM certificates');
const pemKey = z
  .string()
  .max(PEM_MAX_CHARS)
  .regex(/^-----BEGIN [A-Z ]*PRIVATE KEY-----\r?\n[A-Za-z0-9+/=\r\n]+-----END [A-Z ]*PRIVATE KEY-----\r?\n?$/, 'a PEM private key');
const hostname = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/, 'a DNS name');

const credentialsSchema = z.union([
  z.strictObject({ token: z.string().min(1).max(16 * 1024).regex(/^[\x21-\x7e]+$/, 'printable ASCII') }),
  z.strictObject({ client_certificate: pemCertificates, client_key: pemKey }),
]);

export const sessionDescriptionSchema = z
  .strictObject({
    type: z.literal(CONTROL_TYPES.session),
    cluster: z.strictObject({
      name: z.string().min(1).max(253),
      server_name: hostname.optional(),
      ca: pemCertificates.optional(),
    }),
    mode: z.enum(['proxy', 'passthrough']),
    policy: policyShapeSchema,
    targets: z.array(z.string().refine(isValidTargetName, 'a target name')).min(1).max(SESSION_TARGETS_MAX),
    credentials: credentialsSchema.optional(),
    namespace: z
      .string()
      .max(63)
      .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a namespace name')
      .optional(),
    expires_at: z.iso.datetime({ offset: true }),
    /** The resume window the agent asked the relay for, in seconds (docs/design.md §8.1); absent or 0: a dropped link ends the session. */
    resume_window_s: z.number().int().min(0).max(RELAY_RESUME_WINDOW_MAX_S).optional(),
  })
  .superRefine((description, ctx) => {
    if (!description.targets.includes(KUBE_API_TARGET)) {
      ctx.addIssue({ code: 'custom', path: ['targets'], message: `must offer ${KUBE_API_TARGET}` });
    }
    if (new Set(description.targets).size !== description.targets.length) {
      ctx.addIssue({ code: 'custom', path: ['targets'], message: 'targets repeat' });
    }
    if (description.mode === 'passthrough') {
      for (const field of ['ca', 'server_name'] as const) {
        if (description.cluster[field] === undefined) {
          ctx.addIssue({ code: 'custom', path: ['cluster', field], message: 'required in passthrough mode' });
        }
      }
      if (description.credentials === undefined) {
        ctx.addIssue({ code: 'custom', path: ['credentials'], message: 'required in passthrough mode' });
      }
    } else if (description.credentials !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['credentials'], message: 'never sent in proxy mode' });
    }
  });

export type SessionDescription = z.infer<typeof sessionDescriptionSchema>;

/** Validate a received CONTROL message as the session description. */
export function parseSessionDescription(message: unknown): SessionDescription {
  return parseWith(sessionDescriptionSchema, message, 'KP_ERR_SESSION_DESCRIPTION');
}
