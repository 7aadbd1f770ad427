/**
 * Running `kubepair status` and `kubepair session ...` (control-command.ts): pick the process
 * (the only one running, or `--pid`), send one control command, print the answer. Untrusted
 * input: the answer (checked against its schema; every string printed through inertText).
 */
import * as z from 'zod';
import { sendToRunning } from '../control/control-client.js';
import type { ProcessStatus, SessionStatus } from '../control/session-status.js';
import { CONTROL_COMMANDS, ProcessStatusSchema, SessionSelectorSchema } from '../control/session-status.js';
import { KubepairError } from '../errors/index.js';
import { POLICY_MODES } from '../protocol/policy-shape.js';
import { parseWith } from '../protocol/validate.js';
import { inertText } from '../terminal/inert-text.js';
import { parseDuration } from '../units.js';
import { flag, parseCommandOptions, pidOption, repeated } from './command-options.js';
import { clockAndRelative } from './relative-time.js';
import { byteCountText } from './share-output.js';
import { policyLine, ruleText } from './policy-line.js';

const StatusOptionsSchema = z.strictObject({ pid: pidOption, json: flag });
const targetShape = { pid: pidOption, session: SessionSelectorSchema };
const SessionEndOptionsSchema = z.strictObject(targetShape);
const SessionPolicyOptionsSchema = z.strictObject({
  ...targetShape,
  policy: z.enum(POLICY_MODES).optional(),
  allow: repeated,
  deny: repeated,
  removeAllow: repeated,
  removeDeny: repeated,
});

/** The answer of a session change (share-control.ts). */
const ChangeAnswerSchema = z.strictObject({
  session: z.string().max(128),
  change: z.enum(['policy', 'expiry', 'ended']),
  policy: z.strictObject({ mode: z.enum(POLICY_MODES), allow: z.array(z.string()), deny: z.array(z.string()) }).optional(),
  dropped_allow: z.array(z.string()).optional(),
  expires_at: z.iso.datetime({ offset: true }).optional(),
});

function sessionLines(session: SessionStatus, now: Date): string[] {
  const lines = [
    `  session ${inertText(session.id)}`,
    `    peer:     ${inertText(session.peer)}`,
    `    mode:     ${session.mode}`,
    `    policy:   ${session.mode === 'proxy' ? policyLine(session.policy) : 'none (passthrough)'}`,
    `    bytes:    ${byteCountText(session.bytes_from_peer)} from the peer, ${byteCountText(session.bytes_to_peer)} to it`,
    `    started:  ${clockAndRelative(new Date(session.started_at), now)}`,
    `    expires:  ${clockAndRelative(new Date(session.expires_at), now)}${session.latest_end !== undefined ? ` (at the latest ${clockAndRelative(new Date(session.latest_end), now)})` : ''}`,
    `    link:     ${inertText(session.link)}`,
  ];
  return lines;
}

export function statusText(status: ProcessStatus, now: Date): string {
  const head = `kubepair ${status.role} (pid ${status.pid}): ${status.sessions.length === 0 ? (status.role === 'share' ? 'no session open (a code is on offer, or share waits for the relay)' : 'not paired yet') : `${status.sessions.length} session${status.sessions.length === 1 ? '' : 's'} open`}`;
  return [head, ...status.sessions.flatMap((session) => sessionLines(session, now))].join('\n') + '\n';
}

export async function runStatus(rawOptions: unknown): Promise<void> {
  const options = parseCommandOptions(StatusOptionsSchema, rawOptions, 'status');
  const answer = await sendToRunning({ pid: options.pid }, CONTROL_COMMANDS.status, {});
  const status = parseWith(ProcessStatusSchema, answer, 'KP_ERR_CONTROL_BAD_RESPONSE', 'status');
  process.stdout.write(options.json === true ? `${JSON.stringify(status, null, 2)}\n` : statusText(status, new Date()));
}

function printChange(raw: unknown): void {
  const answer = parseWith(ChangeAnswerSchema, raw, 'KP_ERR_CONTROL_BAD_RESPONSE', 'session change');
  const id = inertText(answer.session.slice(0, 8));
  if (answer.change === 'ended') process.stdout.write(`kubepair: session ${id}... ended; share goes on\n`);
  if (answer.change === 'policy' && answer.policy !== undefined) {
    const dropped = answer.dropped_allow !== undefined && answer.dropped_allow.length > 0 ? ` (dropped: ${answer.dropped_allow.map((rule) => ruleText('allow', rule)).join(', ')})` : '';
    process.stdout.write(`kubepair: session ${id}... policy is now ${policyLine(answer.policy)}${dropped}; the client was told\n`);
  }
  if (answer.change === 'expiry' && answer.expires_at !== undefined) {
    process.stdout.write(`kubepair: session ${id}... now ends at ${clockAndRelative(new Date(answer.expires_at), new Date())}; the client was told\n`);
  }
}

export async function runSessionEnd(rawOptions: unknown): Promise<void> {
  const options = parseCommandOptions(SessionEndOptionsSchema, rawOptions, 'session end');
  printChange(await sendToRunning({ role: 'share', pid: options.pid }, CONTROL_COMMANDS.sessionEnd, { ...(options.session !== undefined && { session: options.session }) }));
}

export async function runSessionPolicy(rawOptions: unknown): Promise<void> {
  const options = parseCommandOptions(SessionPolicyOptionsSchema, rawOptions, 'session policy');
  if (options.policy === undefined && options.allow.length + options.deny.length + options.removeAllow.length + options.removeDeny.length === 0) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', 'say what to change: --policy, --allow, --deny, --remove-allow or --remove-deny');
  }
  printChange(
    await sendToRunning({ role: 'share', pid: options.pid }, CONTROL_COMMANDS.sessionPolicy, {
      ...(options.session !== undefined && { session: options.session }),
      ...(options.policy !== undefined && { mode: options.policy }),
      add_allow: options.allow,
      remove_allow: options.removeAllow,
      add_deny: options.deny,
      remove_deny: options.removeDeny,
    }),
  );
}

export async function runSessionExpiry(durationText: string, sign: 1 | -1, rawOptions: unknown): Promise<void> {
  const options = parseCommandOptions(SessionEndOptionsSchema, rawOptions, sign > 0 ? 'session extend' : 'session shorten');
  const ms = parseDuration(durationText);
  if (ms === undefined || ms <= 0) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `"${durationText.slice(0, 40)}" is not a duration such as 30m or 2h`);
  printChange(await sendToRunning({ role: 'share', pid: options.pid }, CONTROL_COMMANDS.sessionExpiry, { ...(options.session !== undefined && { session: options.session }), by_ms: sign * ms }));
}
