/**
 * Running `kubepair approvals`, `approve` and `decline` (approval-command.ts): find the running
 * share's control socket (the only one, or `--pid`), send it the command (approval-control.ts
 * defines them) and print the answer. Untrusted input: the answer's fields that a client chose
 * (names, namespaces, the client label), printed through inertText; the answer is checked
 * against its schema first.
 */
import * as z from 'zod';
import { sendToRunning } from '../control/control-client.js';
import { KubepairError } from '../errors/index.js';
import { parseWith } from '../protocol/validate.js';
import { inertText } from '../terminal/inert-text.js';
import { flag, parseCommandOptions, pidOption } from './command-options.js';
import { AnswerResultSchema, ApprovalsResultSchema } from './approval-control.js';
import { allowFlags } from './policy-line.js';

const ListOptionsSchema = z.strictObject({ pid: pidOption });
const ApproveOptionsSchema = z.strictObject({ pid: pidOption, forSession: flag });
const DeclineOptionsSchema = z.strictObject({ pid: pidOption, all: flag });

function checkedId(id: string | undefined): string | undefined {
  if (id !== undefined && !/^[0-9]{1,20}$/.test(id)) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `"${inertText(id, { maxChars: 20 })}" is not a request id (kubepair approvals lists them)`);
  return id;
}

export async function runApprovals(rawOptions: unknown): Promise<void> {
  const options = parseCommandOptions(ListOptionsSchema, rawOptions, 'approvals');
  const result = parseWith(ApprovalsResultSchema, await sendToRunning({ role: 'share', pid: options.pid }, 'approvals', {}), 'KP_ERR_CONTROL_BAD_RESPONSE');
  if (result.pending.length === 0) {
    process.stdout.write('no request waits for approval\n');
    return;
  }
  for (const pending of result.pending) {
    const where = [pending.namespace, pending.name].some((part) => part !== '') ? ` ${inertText(pending.namespace)}/${inertText(pending.name)}` : '';
    const rules = pending.rules.length === 0 ? 'approve once only' : allowFlags(pending.rules);
    process.stdout.write(
      `#${pending.id}  ${inertText(pending.description)}${where}  tier ${pending.tier} (${inertText(pending.why)})  client ${inertText(pending.client)}  until ${inertText(pending.deadline)}  ${rules}\n`,
    );
  }
}

function printAnswered(result: unknown): void {
  const answered = parseWith(AnswerResultSchema, result, 'KP_ERR_CONTROL_BAD_RESPONSE').answered;
  for (const entry of answered) {
    const how = entry.answer === 'once' ? 'approved once' : entry.answer === 'session' ? `approved for its session (${allowFlags(entry.rules)})` : 'declined';
    process.stdout.write(`request #${inertText(entry.id)} ${how}\n`);
  }
  if (answered.length === 0) process.stdout.write('no request waited\n');
}

export async function runApprove(id: string | undefined, rawOptions: unknown): Promise<void> {
  const options = parseCommandOptions(ApproveOptionsSchema, rawOptions, 'approve');
  const target = checkedId(id);
  printAnswered(await sendToRunning({ role: 'share', pid: options.pid }, 'approve', { ...(target !== undefined && { id: target }), ...(options.forSession === true && { for_session: true }) }));
}

export async function runDecline(id: string | undefined, rawOptions: unknown): Promise<void> {
  const options = parseCommandOptions(DeclineOptionsSchema, rawOptions, 'decline');
  const target = checkedId(id);
  if (target !== undefined && options.all === true) throw new KubepairError('KP_ERR_INVALID_ARGUMENT', 'give an ID or --all, not both');
  printAnswered(await sendToRunning({ role: 'share', pid: options.pid }, 'decline', { ...(target !== undefined && { id: target }), ...(options.all === true && { all: true }) }));
}
