/**
 * What a running `kubepair share` answers on its control socket (docs/usage.md "Session
 * control"): `status` (every session this share serves), and the changes only the sharer may
 * make — `session.end`, `session.policy`, `session.expiry`. Each command's arguments have a
 * strict schema; the work is the AgentSession's (audited, then applied, then the client told).
 * `connect` registers only `status` (connect-control.ts): the client cannot change a policy.
 *
 * Untrusted input: the arguments (any local process of the sharer's user can send them); the
 * rules go through the policy parser, the durations are bounded integers.
 */
import * as z from 'zod';
import type { AgentSession, AgentSessionInfo, SessionChange } from '../agent/agent-session.js';
import type { CodeOffer } from '../agent/code-offer.js';
import type { ControlServer } from '../control/control-server.js';
import type { ProcessStatus, SessionStatus } from '../control/session-status.js';
import { CONTROL_COMMANDS, SessionSelectorSchema } from '../control/session-status.js';
import { KubepairError } from '../errors/index.js';
import { POLICY_MAX_RULES, POLICY_RULE_MAX_CHARS } from '../limits.js';
import { POLICY_MODES } from '../protocol/policy-shape.js';
import { MAX_TIMER_MS } from '../units.js';

const rules = z.array(z.string().min(1).max(POLICY_RULE_MAX_CHARS)).max(POLICY_MAX_RULES).default([]);

export const SessionEndArgsSchema = z.strictObject({ session: SessionSelectorSchema });

export const SessionPolicyArgsSchema = z.strictObject({
  session: SessionSelectorSchema,
  mode: z.enum(POLICY_MODES).optional(),
  add_allow: rules,
  remove_allow: rules,
  add_deny: rules,
  remove_deny: rules,
});

export const SessionExpiryArgsSchema = z.strictObject({
  session: SessionSelectorSchema,
  /** Milliseconds to move the end by: positive later, negative earlier. */
  by_ms: z.number().int().min(-MAX_TIMER_MS).max(MAX_TIMER_MS).refine((ms) => ms !== 0, 'a change of 0 changes nothing'),
});

/** The answer of a change: what the session is now. */
export interface SessionChangeAnswer {
  readonly session: string;
  readonly change: 'policy' | 'expiry' | 'ended';
  readonly policy?: SessionStatus['policy'];
  readonly dropped_allow?: readonly string[];
  readonly expires_at?: string;
}

function statusOf(info: AgentSessionInfo): SessionStatus {
  return {
    id: info.id,
    peer: info.peer,
    mode: info.mode,
    policy: info.policy,
    bytes_from_peer: info.bytesFromClient,
    bytes_to_peer: info.bytesToClient,
    started_at: info.startedAt.toISOString(),
    expires_at: info.expiresAt.toISOString(),
    latest_end: info.latestEnd.toISOString(),
    link: info.link,
  };
}

/** The session `selector` names among `sessions`: the only one when none is named. */
export function selectSession(sessions: readonly AgentSession[], selector: string | undefined): AgentSession {
  const matching = selector === undefined ? sessions : sessions.filter((session) => session.config.sessionId.startsWith(selector));
  const [only, ...others] = matching;
  if (only === undefined) throw new KubepairError('KP_ERR_SESSION_UNKNOWN', selector === undefined ? 'this share serves no session right now' : `no session of this share starts with "${selector}"`);
  if (others.length > 0) {
    throw new KubepairError('KP_ERR_SESSION_UNKNOWN', `${matching.length} sessions match; name one with --session (${matching.map((session) => session.config.sessionId.slice(0, 8)).join(', ')})`);
  }
  return only;
}

function changeAnswer(session: AgentSession, change: SessionChange): SessionChangeAnswer {
  if (change.kind === 'policy') return { session: session.config.sessionId, change: 'policy', policy: change.policy, dropped_allow: change.droppedAllow };
  return { session: session.config.sessionId, change: 'expiry', expires_at: change.expiresAt.toISOString() };
}

/** Register share's control commands for `offer`'s sessions on `server`. */
export function registerShareControl(server: ControlServer, offer: CodeOffer): void {
  server.register(CONTROL_COMMANDS.status, z.strictObject({}), (): ProcessStatus => ({
    role: 'share',
    pid: process.pid,
    sessions: offer.sessions.flatMap((session) => {
      const info = session.info;
      return info === undefined ? [] : [statusOf(info)];
    }),
  }));
  server.register(CONTROL_COMMANDS.sessionEnd, SessionEndArgsSchema, async (args): Promise<SessionChangeAnswer> => {
    const session = selectSession(offer.sessions, args.session);
    await session.endBySharer();
    return { session: session.config.sessionId, change: 'ended' };
  });
  server.register(CONTROL_COMMANDS.sessionPolicy, SessionPolicyArgsSchema, async (args): Promise<SessionChangeAnswer> => {
    const session = selectSession(offer.sessions, args.session);
    const change = await session.changePolicy({ mode: args.mode, addAllow: args.add_allow, removeAllow: args.remove_allow, addDeny: args.add_deny, removeDeny: args.remove_deny });
    return changeAnswer(session, change);
  });
  server.register(CONTROL_COMMANDS.sessionExpiry, SessionExpiryArgsSchema, async (args): Promise<SessionChangeAnswer> => {
    const session = selectSession(offer.sessions, args.session);
    return changeAnswer(session, await session.changeExpiry(args.by_ms));
  });
}
