/**
 * `PolicyHolder`: the policy a running session enforces, swappable while it runs (issue 14,
 * `kubepair session policy`; docs/usage.md "Session control"). The kube proxy reads `current`
 * once per request, when it decides, so a change applies to every request that arrives after
 * it; and it listens for changes (`onReplace`), so a request still running (a watch, exec or
 * port-forward) that the new policy refuses is cut there and then. Each policy is a complete, immutable RequestPolicy built by the one parser
 * (RequestPolicy.create): a change never edits rules in place.
 *
 * Untrusted input: none (the sharer decides; the policy was checked when it was built).
 */
import type { RequestPolicy } from './policy.js';

export class PolicyHolder {
  #current: RequestPolicy;
  readonly #listeners = new Set<(policy: RequestPolicy) => void>();

  constructor(initial: RequestPolicy) {
    this.#current = initial;
  }

  get current(): RequestPolicy {
    return this.#current;
  }

  /** Enforce `policy` from the next decision on; returns the one it replaces. */
  replace(policy: RequestPolicy): RequestPolicy {
    const previous = this.#current;
    this.#current = policy;
    for (const listener of this.#listeners) listener(policy);
    return previous;
  }

  /** Call `listener` with each new policy, once it is enforced; returns what stops that. */
  onReplace(listener: (policy: RequestPolicy) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

/** What a kube proxy may be given: a fixed policy, or a holder whose policy can change. */
export type PolicySource = RequestPolicy | PolicyHolder;

/** The policy `source` enforces now. */
export function currentPolicy(source: PolicySource): RequestPolicy {
  return source instanceof PolicyHolder ? source.current : source;
}
