/**
 * The wire format of the local control socket (docs/usage.md "Session control"): one connection
 * carries one request line and one answer line, each a JSON object ended by `\n`.
 *
 *   request  {"v":1,"command":"NAME","args":{...}}
 *   answer   {"ok":true,"result":...}  or  {"ok":false,"error":{"code":"KP_ERR_...","message":"..."}}
 *
 * Both schemas are strict: an unknown field is refused, so a request means exactly what it says.
 * The arguments of each command have their own schema, given when the command is registered
 * (control-server.ts). Untrusted input: a request (any local process of this user may connect),
 * and an answer (a process that took over a socket name could send anything).
 */
import * as z from 'zod';

/** The version of the control wire format this release speaks. */
export const CONTROL_WIRE_VERSION = 1;

/** A command name: lowercase words joined by `-` or `.`, at most 64 characters. */
export const ControlCommandNameSchema = z.string().min(1).max(64).regex(/^[a-z][a-z0-9.-]*$/, 'a command name is lowercase letters, digits, "-" and "."');

export const ControlRequestSchema = z.strictObject({
  v: z.literal(CONTROL_WIRE_VERSION),
  command: ControlCommandNameSchema,
  args: z.record(z.string(), z.unknown()).optional(),
});

export type ControlRequest = z.infer<typeof ControlRequestSchema>;

/** An error as it travels: its registry code and its one-line message. */
export const ControlErrorSchema = z.strictObject({
  code: z.string().max(64).regex(/^KP_ERR_[A-Z0-9_]+$/),
  message: z.string().max(4096),
});

export const ControlResponseSchema = z.discriminatedUnion('ok', [
  z.strictObject({ ok: z.literal(true), result: z.unknown() }),
  z.strictObject({ ok: z.literal(false), error: ControlErrorSchema }),
]);

export type ControlResponse = z.infer<typeof ControlResponseSchema>;
