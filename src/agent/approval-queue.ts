/**
 * Live approval, the two-person rule of `share --approve` (issue 14; docs/usage.md "Live
 * approval"): requests the policy refused for their tier only (policy.ts `approvable`) wait here
 * for the sharer's answer — approve once, approve for the rest of the session (adding the
 * request's --allow rules to that session), or decline. One queue per share, across its
 * sessions, oldest first, so the terminal prompt and `kubepair approvals` show the same list.
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
import { KubepairError } from '../errors/index.js';
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
 * went away, share stopped).
 */
export type ApprovalResult = 'approved_once' | 'approved_session' | 'declined' | 'timed_out' | 'queue_full' | 'withdrawn' | 'closed';

export interface ApprovalOutcome {
  readonly result: ApprovalResult;
  /** Who decided: the sharer (an answer) or the policy (everything else, a refusal). */
  readonly decidedBy: 'sharer' | 'policy';
  /** How long the request waited, in ms. */
  readonly waitedMs: number;
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
  readonly settle: (result: ApprovalResult) => void;
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

  /** The waiting requests, oldest first. */
  get pending(): readonly PendingApproval[] {
    return [...this.#entries.values()].map((entry) => entry.pending);
  }

  /**
   * Hold `request` until the sharer answers, the timeout, `signal` (its client went away), or
   * close(). Never rejects. A full queue or a closed one answers at once.
   */
  hold(request: ApprovalRequest, signal?: AbortSignal): Promise<ApprovalOutcome> {
    const heldAt = Date.now();
    if (this.#closed) return Promise.resolve({ result: 'closed', decidedBy: 'policy', waitedMs: 0 });
    if (this.#entries.size >= this.capacity) return Promise.resolve({ result: 'queue_full', decidedBy: 'policy', waitedMs: 0 });
    if (signal?.aborted === true) return Promise.resolve({ result: 'withdrawn', decidedBy: 'policy', waitedMs: 0 });
    this.#counter += 1;
    const pending: PendingApproval = { ...request, rules: [...request.rules], id: String(this.#counter), heldAt, deadline: heldAt + this.timeoutMs };
    return new Promise((resolve) => {
      const onAbort = (): void => settle('withdrawn');
      const settle = (result: ApprovalResult): void => {
        if (this.#entries.get(pending.id) !== entry) return;
        this.#entries.delete(pending.id);
        clearTimeout(entry.timer);
        signal?.removeEventListener('abort', onAbort);
        const decidedBy = result === 'approved_once' || result === 'approved_session' || result === 'declined' ? 'sharer' : 'policy';
        const outcome: ApprovalOutcome = { result, decidedBy, waitedMs: Math.max(0, Date.now() - heldAt) };
        resolve(outcome);
        this.emit('settled', pending, outcome);
        this.emit('changed');
      };
      const entry: Entry = { pending, timer: setTimeout(() => settle('timed_out'), this.timeoutMs), settle };
      this.#entries.set(pending.id, entry);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.emit('changed');
    });
  }

  /**
   * The sharer's answer to the request `id`. Throws KP_ERR_APPROVAL_UNKNOWN when none with that
   * id waits (answered already, timed out, withdrawn), and KP_ERR_APPROVAL_SESSION_UNAVAILABLE
   * for "approve for the session" of a request no --allow rule names exactly.
   */
  answer(id: string, answer: ApprovalAnswer): PendingApproval {
    const entry = this.#entries.get(id);
    if (entry === undefined) throw new KubepairError('KP_ERR_APPROVAL_UNKNOWN', `no request ${JSON.stringify(id.slice(0, 20))} waits`);
    if (answer === 'session' && entry.pending.rules.length === 0) throw new KubepairError('KP_ERR_APPROVAL_SESSION_UNAVAILABLE');
    entry.settle(answer === 'once' ? 'approved_once' : answer === 'session' ? 'approved_session' : 'declined');
    return entry.pending;
  }

  /** Decline every waiting request (the prompt's "decline all"); returns how many there were. */
  declineAll(): number {
    const entries = [...this.#entries.values()];
    for (const entry of entries) entry.settle('declined');
    return entries.length;
  }

  /** Stop holding: every waiting request is refused (`closed`) and later ones are refused at once. */
  close(): void {
    this.#closed = true;
    for (const entry of [...this.#entries.values()]) entry.settle('closed');
  }
}
