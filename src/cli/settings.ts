/**
 * The settings a user may keep in the config file (docs/usage.md "Config file"): their keys,
 * the options they give defaults for, and the file's schema. Which value wins is decided in
 * setting-resolution.ts.
 *
 * Only defaults a person reasonably fixes once per machine are settings: where the relay is and
 * how to trust it, and how `share` shares by default. Nothing that weakens a check (`--insecure`,
 * `--audit-fail-open`) and no secret (the relay token) can be put in the file: the schema has
 * no key for them and refuses unknown keys.
 *
 * Untrusted input: the file's values (schema-checked here).
 */
import { isAbsolute } from 'node:path';
import * as z from 'zod';
import { KubepairError } from '../errors/index.js';
import { resolveRelay } from '../relay-client/relay-endpoint.js';
import { parseDuration } from '../units.js';
import { POLICY_MODES } from '../protocol/policy-shape.js';
import { SETTINGS } from './setting-table.js';
import type { ConfigValues, SettingKey, SettingSpec } from './setting-table.js';

export { SETTINGS };
export type { ConfigValues, SettingKey, SettingSpec };

const absolutePath = z
  .string()
  .min(1)
  .max(4096)
  .refine((path) => isAbsolute(path) && !path.includes('\0'), { message: 'must be an absolute path' });

const relayUrl = z
  .string()
  .max(2048)
  .superRefine((url, context) => {
    try {
      // Syntax only: whether plaintext is allowed is decided where it is used (--insecure).
      resolveRelay({ url, insecure: true });
    } catch (err) {
      context.addIssue({ code: 'custom', message: err instanceof Error ? err.message : 'not a relay URL' });
    }
  });

const duration = z.string().refine((text) => (parseDuration(text) ?? 0) >= 60_000, { message: 'must be a duration of at least 1m, e.g. 30m or 8h' });

/** The config file's JSON, strictly: unknown keys are errors, so a typo never goes unnoticed. */
export const configFileSchema = z.strictObject({
  relay: relayUrl.optional(),
  'relay-ca': absolutePath.optional(),
  'proxy-ca': absolutePath.optional(),
  share: z
    .strictObject({
      mode: z.enum(['proxy', 'passthrough']).optional(),
      policy: z.enum(POLICY_MODES).optional(),
      'max-duration': duration.optional(),
      'audit-log': absolutePath.optional(),
    })
    .optional(),
});
export type ConfigFileJson = z.infer<typeof configFileSchema>;

/** Dotted keys from the nested JSON. */
export function flattenConfig(json: ConfigFileJson): ConfigValues {
  const values: ConfigValues = {};
  for (const spec of SETTINGS) {
    const [head, tail] = spec.key.split('.') as [string, string | undefined];
    const holder = tail === undefined ? (json as Record<string, unknown>) : ((json as Record<string, unknown>)[head] as Record<string, unknown> | undefined);
    const value = holder?.[tail ?? head];
    if (typeof value === 'string') values[spec.key] = value;
  }
  return values;
}

/** The nested JSON for dotted keys, in table order. */
export function nestConfig(values: ConfigValues): Record<string, unknown> {
  const json: Record<string, Record<string, string> | string> = {};
  for (const spec of SETTINGS) {
    const value = values[spec.key];
    if (value === undefined) continue;
    const [head, tail] = spec.key.split('.') as [string, string | undefined];
    if (tail === undefined) json[head] = value;
    else json[head] = { ...(json[head] as Record<string, string> | undefined), [tail]: value };
  }
  return json;
}

/** The spec of `key`, or KP_ERR_CONFIG_KEY_UNKNOWN listing the known keys. */
export function settingSpec(key: string): SettingSpec {
  const spec = SETTINGS.find((candidate) => candidate.key === key);
  if (spec === undefined) {
    throw new KubepairError('KP_ERR_CONFIG_KEY_UNKNOWN', `"${key.slice(0, 64)}"; the keys are ${SETTINGS.map((s) => s.key).join(', ')}`);
  }
  return spec;
}

/** Check one value for `key` exactly as the file's schema would; returns it or throws KP_ERR_INVALID_ARGUMENT. */
export function checkSettingValue(key: SettingKey, value: string): string {
  const parsed = configFileSchema.safeParse(nestConfig({ [key]: value }));
  if (!parsed.success) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `${key}: ${parsed.error.issues[0]?.message ?? 'invalid value'}`);
  return value;
}

