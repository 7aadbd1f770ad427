/**
 * Where each option's value comes from (src/cli/setting-resolution.ts): flag > environment >
 * config file > built-in default, applied to a real commander command as the program does
 * before every action, and the relay URL that has no built-in default at all.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Command } from 'commander';
import { registerConnectCommand } from '../../../src/cli/connect-command.js';
import { relayUrlFrom } from '../../../src/cli/relay-endpoint-options.js';
import { registerShareCommand } from '../../../src/cli/share-command.js';
import { registerTokenCommand } from '../../../src/cli/token-command.js';
import { describeSettings, formatSetting, resolveDefaults, resolveSetting } from '../../../src/cli/setting-resolution.js';
import type { SettingInputs } from '../../../src/cli/setting-resolution.js';
import { SETTINGS, settingSpec } from '../../../src/cli/settings.js';
import type { ConfigValues } from '../../../src/cli/settings.js';
import { isKubepairError } from '../../../src/errors/index.js';

const FILE = '/home/u/.config/kubepair/config.json';

function inputs(values: ConfigValues, env: NodeJS.ProcessEnv = {}): SettingInputs {
  return { env, file: { path: FILE, exists: true, values } };
}

/** Parse `argv` with the real share/connect/token registrations and capture the options each action sees. */
async function optionsAfterParse(argv: string[], from: SettingInputs): Promise<{ options: Record<string, unknown>; sources: Record<string, string | undefined> }> {
  // The real registrations on a bare program; the hook is the program's (program.ts), on the test's inputs.
  const program = new Command().exitOverride();
  for (const register of [registerShareCommand, registerConnectCommand, registerTokenCommand]) register(program);
  let seen: { options: Record<string, unknown>; sources: Record<string, string | undefined> } | undefined;
  program.hook('preAction', (_root, action: Command) => {
    resolveDefaults(action, from);
    const options = action.opts<Record<string, unknown>>();
    const sources: Record<string, string | undefined> = {};
    for (const key of Object.keys(options)) sources[key] = action.getOptionValueSource(key);
    seen = { options, sources };
    throw new Error('stop before the action');
  });
  await assert.rejects(program.parseAsync(argv, { from: 'user' }), /stop before the action/);
  assert.ok(seen, `the hook ran for ${argv.join(' ')}`);
  return seen;
}

describe('setting resolution: flag > environment > config file > built-in default', () => {
  const relay = settingSpec('relay');
  it('resolveSetting picks the first of flag, environment, file, default, and names where it came from', () => {
    const file = { relay: 'https://file.example.com' };
    const env = { KUBEPAIR_RELAY: 'https://env.example.com' };
    const table: Array<[string | undefined, NodeJS.ProcessEnv, ConfigValues, string | undefined, string]> = [
      ['https://flag.example.com', env, file, 'https://flag.example.com', 'flag'],
      [undefined, env, file, 'https://env.example.com', 'environment'],
      [undefined, { KUBEPAIR_RELAY: '' }, file, 'https://file.example.com', 'config file'],
      [undefined, {}, file, 'https://file.example.com', 'config file'],
      [undefined, {}, {}, undefined, 'default'],
    ];
    for (const [flag, environment, values, value, source] of table) {
      const resolved = resolveSetting(relay, flag, inputs(values, environment));
      assert.equal(resolved.value, value, `${source}: value`);
      assert.equal(resolved.source, source, `${source}: source`);
    }
    assert.equal(formatSetting(resolveSetting(relay, undefined, inputs(file))), `relay: https://file.example.com (from config file ${FILE})`);
    assert.equal(formatSetting(resolveSetting(relay, undefined, inputs(file, env))), 'relay: https://env.example.com (from KUBEPAIR_RELAY)');
    assert.equal(formatSetting(resolveSetting(settingSpec('share.mode'), undefined, inputs({}))), 'share.mode: proxy (built-in default)');
  });

  it('the program fills options the command line did not give, from the environment or the file, with commander\'s source', async () => {
    const file: ConfigValues = { relay: 'https://file.example.com', 'share.policy': 'readonly', 'share.max-duration': '2h', 'relay-ca': '/etc/kubepair/ca.pem' };
    const fromFile = await optionsAfterParse(['share'], inputs(file));
    assert.equal(fromFile.options['relay'], 'https://file.example.com');
    assert.equal(fromFile.sources['relay'], 'config');
    assert.equal(fromFile.options['policy'], 'readonly');
    assert.equal(fromFile.options['maxDuration'], '2h');
    assert.equal(fromFile.options['relayCa'], '/etc/kubepair/ca.pem');
    assert.equal(fromFile.options['mode'], 'proxy', 'the built-in default stays');
    assert.equal(fromFile.sources['mode'], 'default');

    const fromEnv = await optionsAfterParse(['share'], inputs(file, { KUBEPAIR_RELAY: 'https://env.example.com' }));
    assert.equal(fromEnv.options['relay'], 'https://env.example.com');
    assert.equal(fromEnv.sources['relay'], 'env');

    const fromFlags = await optionsAfterParse(['share', '--relay', 'https://flag.example.com', '--policy', 'open'], inputs(file, { KUBEPAIR_RELAY: 'https://env.example.com' }));
    assert.equal(fromFlags.options['relay'], 'https://flag.example.com');
    assert.equal(fromFlags.sources['relay'], 'cli');
    assert.equal(fromFlags.options['policy'], 'open');

    const token = await optionsAfterParse(['token', 'status'], inputs(file));
    assert.equal(token.options['relay'], 'https://file.example.com', 'token set|delete|status use the file\'s relay too');
    const connect = await optionsAfterParse(['connect', '1-2345-6789'], inputs(file));
    assert.equal(connect.options['relay'], 'https://file.example.com');
    assert.equal(connect.options['policy'], undefined, 'share settings do not leak into connect');
  });

  it('a policy from the file is not applied to --mode passthrough (which cannot enforce one); an explicit --policy still reaches share\'s check', async () => {
    const file: ConfigValues = { 'share.policy': 'readonly' };
    const passthrough = await optionsAfterParse(['share', '--mode', 'passthrough'], inputs(file));
    assert.equal(passthrough.options['policy'], undefined);
    const fileMode = await optionsAfterParse(['share'], inputs({ 'share.policy': 'readonly', 'share.mode': 'passthrough' }));
    assert.equal(fileMode.options['mode'], 'passthrough');
    assert.equal(fileMode.options['policy'], undefined);
    const explicit = await optionsAfterParse(['share', '--mode', 'passthrough', '--policy', 'readonly'], inputs(file));
    assert.equal(explicit.options['policy'], 'readonly');
  });

  it('describeSettings lists what --help shows for a command, and every setting belongs to at least one command', () => {
    const lines = describeSettings('connect', inputs({ relay: 'https://file.example.com' })).map(formatSetting);
    assert.deepEqual(lines, [`relay: https://file.example.com (from config file ${FILE})`, 'relay-ca: none (the system CAs) (built-in default)', 'proxy-ca: none (built-in default)']);
    for (const spec of SETTINGS) assert.ok(spec.commands.length > 0, spec.key);
  });

  it('no relay from anywhere is KP_ERR_RELAY_NOT_CONFIGURED, and its message names the three ways to give one', () => {
    assert.throws(
      () => relayUrlFrom({}, {}),
      (err) =>
        isKubepairError(err, 'KP_ERR_RELAY_NOT_CONFIGURED') && err.exitCode === 2 && err.message.includes('--relay URL') && err.message.includes('KUBEPAIR_RELAY') && err.message.includes('kubepair config set relay URL'),
    );
    assert.throws(() => relayUrlFrom({}, { KUBEPAIR_RELAY: '' }), (err) => isKubepairError(err, 'KP_ERR_RELAY_NOT_CONFIGURED'));
    assert.equal(relayUrlFrom({}, { KUBEPAIR_RELAY: 'https://env.example.com' }), 'https://env.example.com');
  });
});
