/**
 * The work of `kubepair doctor` (doctor-command.ts has the options and help): resolve the relay
 * settings, run the checks (doctor-checks.ts; docs/usage.md "kubepair doctor"), print the report.
 * Exit 0 when no check FAILs, else 1 (KP_ERR_DOCTOR_FAILED). The relay and its CAs resolve as for share and connect (flag >
 * environment > config file), except that a config file that cannot be read is reported as a
 * FAIL line instead of stopping the command.
 */
import type { Command } from 'commander';
import { KeychainTokenStore } from '../credentials/keychain-token-store.js';
import { KubepairError } from '../errors/index.js';
import { configFilePath } from './config-file.js';
import type { ConfigFile } from './config-file.js';
import { formatDoctorReport, runDoctorChecks } from './doctor-checks.js';
import { resolveSetting, settingInputs } from './setting-resolution.js';
import type { SettingInputs } from './setting-resolution.js';
import { settingSpec } from './settings.js';

export interface DoctorOptions {
  readonly relay?: string;
  readonly relayCa?: string;
  readonly proxyCa?: string;
  readonly insecure?: boolean;
  readonly kubeconfig?: string;
  readonly context?: string;
}

function describeOrigin(source: string, origin: string): string {
  if (source === 'flag' || source === 'environment') return `from ${origin}`;
  if (source === 'config file') return `from config file ${origin}`;
  return 'built-in default';
}

export async function runDoctor(options: DoctorOptions, command: Command, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  let inputs: SettingInputs;
  try {
    inputs = settingInputs(env);
  } catch {
    // The config check reports it; resolve the rest without the file.
    const file: ConfigFile = { path: configFilePath(env), exists: false, values: {} };
    inputs = { env, file };
  }
  const flag = (key: 'relay' | 'relayCa' | 'proxyCa'): string | undefined => (command.getOptionValueSource(key) === 'cli' ? options[key] : undefined);
  const relay = resolveSetting(settingSpec('relay'), flag('relay'), inputs);
  const relayCa = resolveSetting(settingSpec('relay-ca'), flag('relayCa'), inputs);
  const proxyCa = resolveSetting(settingSpec('proxy-ca'), flag('proxyCa'), inputs);
  const results = await runDoctorChecks({
    relay: relay.value,
    relayOrigin: describeOrigin(relay.source, relay.origin),
    relayCa: relayCa.value,
    proxyCa: proxyCa.value,
    insecure: options.insecure === true,
    kubeconfig: options.kubeconfig,
    context: options.context,
    env,
    store: () => new KeychainTokenStore(),
    now: () => Date.now(),
  });
  process.stdout.write(formatDoctorReport(results));
  if (results.some((result) => result.status === 'FAIL')) throw new KubepairError('KP_ERR_DOCTOR_FAILED');

}

