/**
 * The sharer's side of live approval on a terminal (`share --approve`, issue 14; docs/usage.md
 * "Live approval"): while requests wait in the share's ApprovalQueue, `share`'s terminal shows
 * the oldest one — who asks, what, where, which --allow rule would allow it, how many more wait
 * and until when it waits — and reads one key:
 *
 *   y  approve once          s  approve for the rest of the session (shows the --allow rule)
 *   n  decline               N  decline every waiting request (a flood is cleared at once)
 *
 * A key answers the request on the screen when it is read, by its id; the rest of what was
 * read with it is dropped, so keys typed ahead (or a held-down key) never answer a request the
 * sharer has not been shown yet. When the request on the screen ends without a key of this
 * prompt (it timed out, its client went away, `kubepair approve`/`decline` answered it), a key
 * already on its way was meant for it: the next request is shown, but y, s and n are refused
 * until the sharer presses space to say they have read it. Standard input is in raw mode only
 * while a request waits; Ctrl-C and Ctrl-\ there stop share as the signal would (raw mode turns
 * them into bytes).
 *
 * Untrusted input: every field of a held request that the client chose (names, namespaces,
 * verbs, the client label) goes through inertText before it is printed.
 */
import type { ApprovalQueue, PendingApproval } from '../agent/approval-queue.js';
import { KubepairError } from '../errors/index.js';
import { inertText } from '../terminal/inert-text.js';
import type { SecretTerminal } from './secret-input.js';
import { allowFlags } from './policy-line.js';
import { clockAndRelative } from './relative-time.js';

/** What the key at the prompt does. */
const KEYS: Readonly<Record<string, 'once' | 'session' | 'decline' | 'decline-all'>> = { y: 'once', s: 'session', n: 'decline', N: 'decline-all' };
const SIGNAL_KEYS: ReadonlyMap<string, NodeJS.Signals> = new Map([
  ['\u0003', 'SIGINT'],
  ['\u001c', 'SIGQUIT'],
]);

/** A client field on one line, escapes visible (the rules are ASCII by construction). */
const FIELD_MAX_CHARS = 120;
function field(text: string): string {
  return inertText(text, { maxChars: FIELD_MAX_CHARS });
}

/** The lines that ask about `request`; `waiting` counts it too. */
export function approvalPromptLines(request: PendingApproval, waiting: number, now: Date): string[] {
  const where = [request.namespace !== '' ? `namespace ${field(request.namespace)}` : '', request.name !== '' ? `name ${field(request.name)}` : '']
    .filter((part) => part !== '')
    .join(', ');
  const rules = allowFlags(request.rules, FIELD_MAX_CHARS);
  const more = waiting > 1 ? `; ${waiting - 1} more waiting` : '';
  const lines = [
    `kubepair share: approval needed for request #${request.id} (${waiting} waiting)`,
    `  client:   ${field(request.client)} (session ${field(request.session.slice(0, 8))})`,
    `  request:  ${field(request.description)}${where === '' ? '' : ` (${where})`}, tier ${request.tier}: ${field(request.why)}`,
    `  allowed by: ${rules === '' ? 'no --allow rule names exactly this request; it can be approved once' : rules}`,
    `  declined unless answered by ${clockAndRelative(new Date(request.deadline), now)}${more}`,
    `  [y] approve once   ${rules === '' ? '' : `[s] approve for this session (adds ${rules})   `}[n] decline   [N] decline all ${waiting}`,
  ];
  return lines;
}

export interface ApprovalPromptOptions {
  readonly queue: ApprovalQueue;
  readonly input: SecretTerminal;
  readonly output: NodeJS.WritableStream;
  /** Raise a signal for Ctrl-C / Ctrl-\ typed in raw mode (default: to this process). */
  readonly raise?: (signal: NodeJS.Signals) => void;
}

/** Show the queue's oldest request on a terminal and answer it with one key; see the file header. */
export class ApprovalPrompt {
  readonly #options: ApprovalPromptOptions;
  /** The request on the screen now: a key answers this one and no other. */
  #shown: PendingApproval | undefined;
  /** The id of the request this prompt's own key answered last. */
  #answeredHere: string | undefined;
  /** False after the shown request changed without a key of ours: space must come first. */
  #armed = true;
  #raw = false;
  #closed = false;
  readonly #onChanged = (): void => this.#redraw();
  readonly #onData = (chunk: Buffer | string): void => this.#keys(typeof chunk === 'string' ? chunk : chunk.toString('latin1'));

  constructor(options: ApprovalPromptOptions) {
    this.#options = options;
    options.queue.on('changed', this.#onChanged);
    options.queue.on('settled', (request, outcome) => {
      if (this.#closed) return;
      const how = {
        approved_once: 'approved once',
        approved_session: `approved for this session (${allowFlags(request.rules, FIELD_MAX_CHARS)})`,
        declined: 'declined',
        timed_out: 'declined: no answer in time',
        queue_full: 'refused: the queue is full',
        withdrawn: 'withdrawn: the client went away',
        closed: 'refused: share is stopping',
        session_change_failed: `refused, not approved for this session: ${outcome.error?.message ?? 'the policy change could not be made'}`,
      }[outcome.result];
      options.output.write(`kubepair share: request #${request.id} ${how}\n`);
    });
  }

  /** Stop prompting and give the terminal back. */
  close(): void {
    this.#closed = true;
    this.#options.queue.off('changed', this.#onChanged);
    this.#setRaw(false);
  }

  #redraw(): void {
    if (this.#closed) return;
    const pending = this.#options.queue.pending;
    const first = pending[0];
    if (first === undefined) {
      this.#shown = undefined;
      this.#setRaw(false);
      return;
    }
    const previous = this.#shown;
    const changed = previous?.id !== first.id;
    // The request on the screen ended without our key: whatever key comes next was meant for it.
    if (changed && previous !== undefined && previous.id !== this.#answeredHere && this.#options.queue.pending.every((p) => p.id !== previous.id)) this.#armed = false;
    this.#shown = first;
    this.#setRaw(true);
    // Redrawn when the request on top changes, or when more join behind it (the count).
    if (changed || pending.length > 1) {
      this.#options.output.write(`${approvalPromptLines(first, pending.length, new Date()).join('\n')}\n`);
      if (!this.#armed) this.#options.output.write(`  request #${previous?.id ?? '?'} ended without your answer: press space to answer request #${first.id}\n`);
    }
  }

  #keys(text: string): void {
    for (const key of text) {
      const signal = SIGNAL_KEYS.get(key);
      if (signal !== undefined) {
        (this.#options.raise ?? ((name) => process.kill(process.pid, name)))(signal);
        return;
      }
      const action = KEYS[key];
      const shown = this.#shown;
      if (shown === undefined) continue;
      if (!this.#armed && key === ' ') {
        this.#armed = true;
        this.#options.output.write(`kubepair share: answering request #${shown.id}\n`);
        return;
      }
      if (action === undefined) continue;
      if (!this.#armed && action !== 'decline-all') {
        this.#options.output.write(`kubepair share: the request you may have answered ended; press space to answer request #${shown.id}\n`);
        return;
      }
      this.#answeredHere = shown.id;
      if (action === 'decline-all') {
        this.#options.queue.declineAll();
      } else {
        // How it ended is printed when it settles; a refused answer (it ended before the key: timed
        // out, withdrawn) is said here, and nothing else is answered.
        this.#options.queue.answer(shown.id, action).catch((err: unknown) => {
          if (this.#closed) return;
          const message = err instanceof KubepairError ? err.message : String(err);
          this.#options.output.write(`kubepair share: request #${shown.id}: ${message}\n`);
        });
      }
      // One key per read: keys typed ahead never answer the next request, drawn after this one.
      return;
    }
  }

  #setRaw(raw: boolean): void {
    if (this.#raw === raw) return;
    const input = this.#options.input;
    this.#raw = raw;
    if (raw) {
      input.setRawMode(true);
      input.on('data', this.#onData);
      input.resume();
    } else {
      input.off('data', this.#onData);
      input.setRawMode(false);
      input.pause();
    }
  }
}
