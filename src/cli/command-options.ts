/**
 * How a command's options get from commander to a role's Config (docs/architecture.md "CLI"):
 * commander parses argv into a plain object, and each command's run module passes that object
 * once through its own zod schema — built from the shapes here — whose transforms call the
 * strict parsers (units.ts, target and code parsers). What comes out is typed; no command
 * reads `options['x'] as string`. A value a transform refuses throws its own coded error
 * naming the flag (exit 2); an object of the wrong shape, which only a wiring bug can produce,
 * is refused the same way.
 *
 * Untrusted input: argv (through commander) and the environment.
 */
import * as z from 'zod';
import type { ZodRawShape } from 'zod';
import { KubepairError } from '../errors/index.js';
import { parseWith } from '../protocol/validate.js';

/** Commander's reducer for a repeatable option: every value, in order. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

/** A port typed on the command line (`--port`, the local side of `--forward`). */
export function parsePort(text: string, what: string): number {
  if (!/^\d{1,5}$/.test(text) || Number(text) > 65535) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `${what} "${text}" is not a port (0-65535)`);
  return Number(text);
}

/** A repeatable option: commander leaves it out until it is given once. */
export const repeated = z.array(z.string()).default([]);
/** A switch: commander sets `true` when given and leaves it out otherwise. */
export const flag = z.literal(true).optional();

/** `--pid`: which running share or connect a control command (status, session, approve) is for. */
export const pidOption = z
  .string()
  .optional()
  .transform((text) => {
    if (text === undefined) return undefined;
    if (!/^[1-9][0-9]{0,9}$/.test(text)) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `--pid "${text.slice(0, 20)}" is not a process id`);
    return Number(text);
  });

/** The options `share` and `connect` both have (relay-endpoint-options.ts). */
export const relayOptionsShape = {
  relay: z.string().optional(),
  relayCa: z.string().optional(),
  proxyCa: z.string().optional(),
  insecure: flag,
} satisfies ZodRawShape;

/** The relay options after parsing. */
export type RelayOptions = { readonly relay?: string | undefined; readonly relayCa?: string | undefined; readonly proxyCa?: string | undefined; readonly insecure?: true | undefined };

/** Parse what commander produced for `command` with that command's schema. */
export function parseCommandOptions<S extends z.ZodType>(schema: S, raw: unknown, command: string): z.output<S> {
  return parseWith(schema, raw, 'KP_ERR_INVALID_ARGUMENT', `kubepair ${command} options`);
}
