/**
 * Live approval through the share's local control socket (issue 14; docs/usage.md "Live
 * approval"): the commands a running `share --approve` offers on its ControlServer
 * (src/control/control-server.ts), so a share without a terminal can still be answered, and a
 * sharer can answer from another terminal:
 *
 *   approvals                        the requests waiting, oldest first
 *   approve  {id?, for_session?}     approve one (once, or for the rest of its session)
 *   decline  {id?, all?}             decline one, or every waiting request
 *
 * `approve` with `for_session` answers once the rules are in the session's policy; when that
 * change cannot be made the request is refused and the answer is the error
 * (KP_ERR_APPROVAL_SESSION_FAILED, its cause in the message).
 *
 * Without an id, `approve` and `decline` answer the only waiting request, and refuse
 * (KP_ERR_APPROVAL_ID_NEEDED) when several wait: nobody approves a request they did not name.
 * The socket is the sharer's own (0600, in their runtime directory); its arguments are still
 * checked by schema. Untrusted input: the held requests' client-chosen fields, sent as JSON;
 * `kubepair approvals` prints them through inertText.
 */
import * as z from 'zod';
import type { ApprovalQueue, PendingApproval } from '../agent/approval-queue.js';
import type { ControlServer } from '../control/control-server.js';
import { KubepairError } from '../errors/index.js';

/** A waiting request as the control socket reports it. */
export const PendingApprovalSchema = z.strictObject({
  id: z.string().max(20),
  session: z.string().max(200),
  client: z.string().max(200),
  request_id: z.string().max(200),
  description: z.string().max(400),
  tier: z.number().int().min(0).max(3),
  why: z.string().max(400),
  verb: z.string().max(200),
  namespace: z.string().max(400),
  name: z.string().max(400),
  rules: z.array(z.string().max(1024)).max(64),
  held_at: z.string().max(40),
  deadline: z.string().max(40),
});
export type PendingApprovalView = z.infer<typeof PendingApprovalSchema>;

export const ApprovalsResultSchema = z.strictObject({ pending: z.array(PendingApprovalSchema).max(1000) });
export const AnswerResultSchema = z.strictObject({ answered: z.array(z.strictObject({ id: z.string().max(20), answer: z.enum(['once', 'session', 'decline']), rules: z.array(z.string().max(1024)).max(64) })).max(1000) });

const IdSchema = z.string().min(1).max(20).regex(/^[0-9]+$/, 'a request id is a number (kubepair approvals lists them)');
export const ApproveArgsSchema = z.strictObject({ id: IdSchema.optional(), for_session: z.boolean().optional() });
export const DeclineArgsSchema = z.strictObject({ id: IdSchema.optional(), all: z.boolean().optional() });

function view(pending: PendingApproval): PendingApprovalView {
  return {
    id: pending.id,
    session: pending.session,
    client: pending.client,
    request_id: pending.requestId,
    description: pending.description,
    tier: pending.tier,
    why: pending.why,
    verb: pending.verb,
    namespace: pending.namespace,
    name: pending.name,
    rules: [...pending.rules],
    held_at: new Date(pending.heldAt).toISOString(),
    deadline: new Date(pending.deadline).toISOString(),
  };
}

/** The request `id` names, or the only one waiting. */
function chosen(queue: ApprovalQueue, id: string | undefined): string {
  if (id !== undefined) return id;
  const pending = queue.pending;
  const only = pending[0];
  if (only === undefined) throw new KubepairError('KP_ERR_APPROVAL_UNKNOWN', 'no request waits');
  if (pending.length > 1) throw new KubepairError('KP_ERR_APPROVAL_ID_NEEDED', `${pending.length} wait: ${pending.map((p) => `#${p.id}`).join(', ')}`);
  return only.id;
}

/** Offer `approvals`, `approve` and `decline` for `queue` on the share's control socket. */
export function registerApprovalCommands(server: ControlServer, queue: ApprovalQueue): void {
  server.register('approvals', z.strictObject({}), () => ({ pending: queue.pending.map(view) }));
  server.register('approve', ApproveArgsSchema, async (args) => {
    const answer = args.for_session === true ? 'session' : 'once';
    const { pending, outcome } = await queue.answer(chosen(queue, args.id), answer);
    // "For the session" whose policy change could not be made: the request is refused; say why.
    if (outcome.result !== 'approved_once' && outcome.result !== 'approved_session') {
      throw outcome.error ?? new KubepairError('KP_ERR_APPROVAL_UNKNOWN', `request #${pending.id} was refused (${outcome.result})`);
    }
    return { answered: [{ id: pending.id, answer, rules: answer === 'session' ? [...pending.rules] : [] }] };
  });
  server.register('decline', DeclineArgsSchema, async (args) => {
    if (args.all === true) {
      if (args.id !== undefined) throw new KubepairError('KP_ERR_CONTROL_REQUEST_INVALID', 'give an id or all, not both');
      const ids = queue.declineAll();
      return { answered: ids.map((id) => ({ id, answer: 'decline' as const, rules: [] })) };
    }
    const { pending } = await queue.answer(chosen(queue, args.id), 'decline');
    return { answered: [{ id: pending.id, answer: 'decline' as const, rules: [] }] };
  });
}
