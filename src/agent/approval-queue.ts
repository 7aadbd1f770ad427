/**
 * Live approval, the two-person rule of `share --approve` (issue 14; docs/usage.md "Live
 * approval"): requests the policy refused for their tier only (policy.ts `approvable`) wait here
 * for the sharer's answer — approve once, approve for the rest of the session, or decline. One
 * queue per share, across its sessions, oldest first, so the terminal prompt and `kubepair
 * approvals` show the same list.
 *
 * "Approve for the session" is a change of that session's policy: the request's --allow rules
 * are handed to the session it came in (`SessionRules`, AgentSession: audited as
 * `session_changed` first, then enforced, then the client told) and only once that is done is
 * the request approved. A change that cannot be made (its audit record cannot be written, the
 * session's mode is no longer guarded) adds nothing and the request is refused
 * (`session_change_failed`, fail closed): approving it once instead would let the sharer's
 * "for the session" answer through as something they did not choose. A request held without a
 * session to add rules to (or whose session has no room left for its rules) offers none: it
 * can be approved once only.
 *
 * Bounds: at most APPROVAL_QUEUE_MAX requests wait at once (one more is refused at once, so a
 * client flooding requests cannot grow the queue), and each waits at most the timeout, then is
 * declined. A request whose client goes away is withdrawn. The queue only holds what the sharer
 * sees and their answer: the request itself stays with the kube proxy, which forwards nothing
 * before the answer.
 *
 * Untrusted input: the fields of a held request (verb, names, namespace come from the client);
 * whoever shows them makes them inert (src/terminal/inert-text.ts). Answers come from the
 * sharer (their terminal, or the share's own 0600 control socket).
 */
import { EventEmitter } from 'node:events';
import { KubepairError, toKubepairError } from '../errors/index.js';
import { APPROVAL_QUEUE_MAX, APPROVAL_TIMEOUT_MS } from '../limits.js';

/** What the sharer is asked about one request. */
export interface ApprovalRequest {
  /** The relay session id and the client label of the session the request came in. */
  readonly session: string;
  readonly client: string;
  /** The request's id in the audit log (`request_id`). */
  readonly requestId: string;
  /** The refused action in rule syntax (`delete pods`), with its tier and why it has it. */
  readonly description: string;
  readonly tier: number;
  readonly why: string;
  readonly verb: string;
  readonly namespace: string;
  readonly name: string;
  /** The --allow rules "approve for the session" adds; empty: it can be approved once only. */
  readonly rules: readonly string[];
}

/**
 * Where "approve for the session" puts its rules: the policy of the session a request came in
 * (AgentSession implements it).
 */
export interface SessionRules {
  /** How many more --allow rules "approve for the session" may add to the session now. */
  room(): number;
  /**
   * Add `rules` to the session's policy as --allow rules for `approval`: audited first, then
   * enforced, then the client told. Rejects, having added nothing, when that cannot be done.
   */
  add(rules: readonly string[], approval: PendingApproval): Promise<void>;
}

/** The queue as one session's kube proxy uses it (ApprovalQueue.forSession). */
export interface SessionApprovals {
  readonly timeoutMs: number;
  readonly capacity: number;
  hold(request: ApprovalRequest, signal?: AbortSignal): Promise<ApprovalOutcome>;
}

/** A request waiting for the sharer: `id` is what `kubepair approve ID` names. */
export interface PendingApproval extends ApprovalRequest {
  readonly id: string;
  /** When it began to wait and when it will be declined unanswered (epoch ms). */
  readonly heldAt: number;
  readonly deadline: number;
}

/** The sharer's answer. */
export type ApprovalAnswer = 'once' | 'session' | 'decline';

/**
 * How a held request ended. The sharer decided `approved_once`, `approved_session` and
 * `declined`; the rest the agent decided (no answer in time, the queue was full, the client
 * went away, share stopped, or the sharer's "for the session" could not be made a change of the
 * session's policy: `session_change_failed`, a refusal).
 */
export type ApprovalResult = 'approved_once' | 'approved_session' | 'declined' | 'timed_out' | 'queue_full' | 'withdrawn' | 'closed' | 'session_change_failed';

export interface ApprovalOutcome {
  readonly result: ApprovalResult;
  /** Who decided: the sharer (an answer) or the policy (everything else, a refusal). */
  readonly decidedBy: 'sharer' | 'policy';
  /** How long the request waited, in ms. */
  readonly waitedMs: number;
  /** With `session_change_failed`: why (KP_ERR_APPROVAL_SESSION_FAILED, the cause's message in it). */
  readonly error?: KubepairError;
}

/** What an answer did: the request it answered and how that request ended. */
export interface AnsweredApproval {
  readonly pending: PendingApproval;
  readonly outcome: ApprovalOutcome;
}

export interface ApprovalQueueOptions {
  /** How long a request waits before it is declined (default APPROVAL_TIMEOUT_MS). */
  readonly timeoutMs?: number;
  /** Most requests waiting at once (default APPROVAL_QUEUE_MAX). */
  readonly capacity?: number;
}

export interface ApprovalQueueEvents {
  /** The list of waiting requests changed (one joined or left): redraw a prompt. */
  changed: [];
  /** A held request ended, and how. */
  settled: [PendingApproval, ApprovalOutcome];
}

interface Entry {
  readonly pending: PendingApproval;
  readonly timer: NodeJS.Timeout;
  /** Where "approve for the session" adds the rules; absent: approve once only. */
  readonly session: SessionRules | undefined;
  /** Set while "approve for the session" changes the session's policy: nothing else settles it then. */
  answering: boolean;
  readonly settle: (result: ApprovalResult, error?: KubepairError) => ApprovalOutcome | undefined;
}

export class ApprovalQueue extends EventEmitter<ApprovalQueueEvents> {
  readonly timeoutMs: number;
  readonly capacity: number;
  readonly #entries = new Map<string, Entry>();
  #counter = 0;
  #closed = false;

  constructor(options: ApprovalQueueOptions = {}) {
    super();
    this.timeoutMs = options.timeoutMs ?? APPROVAL_TIMEOUT_MS;
    this.capacity = options.capacity ?? APPROVAL_QUEUE_MAX;
    if (!Number.isInteger(this.timeoutMs) || this.timeoutMs < 1) throw new KubepairError('KP_ERR_INTERNAL', 'approval timeout must be a positive integer of ms');
    if (!Number.isInteger(this.capacity) || this.capacity < 1) throw new KubepairError('KP_ERR_INTERNAL', 'approval capacity must be a positive integer');
  }

  /** The waiting requests, oldest first (one whose "for the session" change is being made no longer waits). */
  get pending(): readonly PendingApproval[] {
    return [...this.#entries.values()].filter((entry) => !entry.answering).map((entry) => entry.pending);
  }

  /** This queue for the kube proxy of one session: "approve for the session" adds its rules to `session`. */
  forSession(session: SessionRules): SessionApprovals {
    return {
      timeoutMs: this.timeoutMs,
      capacity: this.capacity,
      hold: (request, signal) => this.hold(request, signal, session),
    };
  }

  /**
   * Hold `request` until the sharer answers, the timeout, `signal` (its client went away), or
   * close(). Never rejects. A full queue or a closed one answers at once. Its rules are offered
   * for the session only when `session` is given and has room for all of them.
   */
  hold(request: ApprovalRequest, signal?: AbortSignal, session?: SessionRules): Promise<ApprovalOutcome> {
    const heldAt = Date.now();
    if (this.#closed) return Promise.resolve({ result: 'closed', decidedBy: 'policy', waitedMs: 0 });
    if (this.#entries.size >= this.capacity) return Promise.resolve({ result: 'queue_full', decidedBy: 'policy', waitedMs: 0 });
    if (signal?.aborted === true) return Promise.resolve({ result: 'withdrawn', decidedBy: 'policy', waitedMs: 0 });
    this.#counter += 1;
    const rules = session !== undefined && request.rules.length <= session.room() ? [...request.rules] : [];
    const pending: PendingApproval = { ...request, rules, id: String(this.#counter), heldAt, deadline: heldAt + this.timeoutMs };
    return new Promise((resolve) => {
      const onAbort = (): void => void settleUnlessAnswering('withdrawn');
      const settle = (result: ApprovalResult, error?: KubepairError): ApprovalOutcome | undefined => {
        if (this.#entries.get(pending.id) !== entry) return undefined;
        this.#entries.delete(pending.id);
        clearTimeout(entry.timer);
        signal?.removeEventListener('abort', onAbort);
        const decidedBy = result === 'approved_once' || result === 'approved_session' || result === 'declined' ? 'sharer' : 'policy';
        const outcome: ApprovalOutcome = { result, decidedBy, waitedMs: Math.max(0, Date.now() - heldAt), ...(error !== undefined && { error }) };
        resolve(outcome);
        this.emit('settled', pending, outcome);
        this.emit('changed');
        return outcome;
      };
      // While the session's policy changes for "approve for the session", that answer settles it.
      const settleUnlessAnswering = (result: ApprovalResult): ApprovalOutcome | undefined => (entry.answering ? undefined : settle(result));
      const entry: Entry = { pending, timer: setTimeout(() => settleUnlessAnswering('timed_out'), this.timeoutMs), session, answering: false, settle };
      this.#entries.set(pending.id, entry);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.emit('changed');
    });
  }

  /**
   * The sharer's answer to the request `id`; resolves once the request is settled, with how it
   * ended. Rejects with KP_ERR_APPROVAL_UNKNOWN when none with that id waits (answered already,
   * timed out, withdrawn), and KP_ERR_APPROVAL_SESSION_UNAVAILABLE for "approve for the session"
   * of a request that offers no --allow rule. "For the session" first adds the rules to the
   * request's session (SessionRules.add); when that fails the request is refused
   * (`session_change_failed`, its `error` says why) and the answer resolves with that outcome.
   */
  async answer(id: string, answer: ApprovalAnswer): Promise<AnsweredApproval> {
    const entry = this.#entries.get(id);
    if (entry === undefined || entry.answering) throw new KubepairError('KP_ERR_APPROVAL_UNKNOWN', `no request ${JSON.stringify(id.slice(0, 20))} waits`);
    if (answer !== 'session') {
      const outcome = entry.settle(answer === 'once' ? 'approved_once' : 'declined')!;
      return { pending: entry.pending, outcome };
    }
    const session = entry.session;
    if (session === undefined || entry.pending.rules.length === 0) throw new KubepairError('KP_ERR_APPROVAL_SESSION_UNAVAILABLE');
    entry.answering = true;
    clearTimeout(entry.timer);
    this.emit('changed');
    let outcome: ApprovalOutcome | undefined;
    try {
      await session.add(entry.pending.rules, entry.pending);
      outcome = entry.settle('approved_session');
    } catch (err) {
      const cause = toKubepairError(err);
      const error = cause.code === 'KP_ERR_APPROVAL_SESSION_FAILED' ? cause : new KubepairError('KP_ERR_APPROVAL_SESSION_FAILED', cause.message, { cause });
      outcome = entry.settle('session_change_failed', error);
    }
    // close() settled it while the change was being made: it was refused all the same.
    return { pending: entry.pending, outcome: outcome ?? { result: 'closed', decidedBy: 'policy', waitedMs: Math.max(0, Date.now() - entry.pending.heldAt) } };
  }

  /** Decline every waiting request (the prompt's "decline all"); returns the ids declined. */
  declineAll(): string[] {
    const entries = [...this.#entries.values()].filter((entry) => !entry.answering);
    for (const entry of entries) entry.settle('declined');
    return entries.map((entry) => entry.pending.id);
  }

  /** Stop holding: every waiting request is refused (`closed`) and later ones are refused at once. */
  close(): void {
    this.#closed = true;
    for (const entry of [...this.#entries.values()]) entry.settle('closed');
  }
}
