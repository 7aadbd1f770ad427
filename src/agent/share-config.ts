/**
 * What a share is configured with, as zod schemas checked where the role objects are built
 * (CodeOffer, AgentSession; docs/architecture.md "Role objects"), so a library caller, the CLI
 * and a future front end get the same checks and messages. Besides each field's own rules,
 * the combinations that cannot work, or that would hand the client a wider identity than the
 * sharer asked for (docs/design.md §6; docs/passthrough.md):
 *
 * - passthrough with a policy other than `open`, or with --allow / --deny rules: TLS goes end to
 *   end, the agent cannot see, let alone refuse, a request;
 * - --service-account in proxy mode: the client never receives credentials there;
 * - passthrough with --as / --as-group: the client would get the agent's credentials without the
 *   impersonation, a wider identity than asked for;
 * - --as-group without --as: Kubernetes impersonates groups only together with a user;
 * - the policy's own rules (RequestPolicy.create: an unknown mode, a rule that does not parse,
 *   --allow in a mode where it would do nothing);
 * - --expose names used twice, or the reserved `kube-apiserver`;
 * - a session lifetime under a minute, or longer than a timer can wait;
 * - `--approve` outside proxy mode with policy "guarded": only there does a request refused
 *   for its tier have an --allow rule the sharer could add (issue 14).
 *
 * The messages name the command-line flags, since that is how people meet them. Untrusted
 * input: none (configuration is the sharer's), but every value is checked all the same.
 */
import * as z from 'zod';
import type { AuditLog } from '../audit/audit-log.js';
import { APPROVAL_TIMEOUT_MAX_MS, APPROVAL_TIMEOUT_MIN_MS, APPROVAL_TIMEOUT_MS, DEFAULT_RESUME_WINDOW_MS, RELAY_RESUME_WINDOW_MAX_S, SESSION_TARGETS_MAX, SHARE_SESSION_LIFETIME_MIN_MS, SHARE_SESSION_LIFETIME_MS } from '../limits.js';
import { POLICY_MODES } from '../protocol/policy-shape.js';
import { SESSION_ID_PATTERN } from '../protocol/relay-api.js';
import { parseWith } from '../protocol/validate.js';
import { LinkTimingSchema } from '../relay-client/durable-link.js';
import { RelayEndpointSchema } from '../relay-client/relay-endpoint.js';
import { MAX_TIMER_MS } from '../units.js';
import { ApprovalQueue } from './approval-queue.js';
import { ServiceAccountRefSchema } from './passthrough-credentials.js';
import { RequestPolicy } from './policy/index.js';
import { TcpTargetSchema } from './tcp-targets.js';
import type { UpstreamCluster } from './upstream-cluster.js';

export const SHARE_MODES = ['proxy', 'passthrough'] as const;
export type ShareMode = (typeof SHARE_MODES)[number];

/** The conflict messages (the CLI's tests match them). */
const CONFLICTS = {
  passthroughPolicy: 'passthrough mode cannot enforce --policy, --allow or --deny (TLS goes end to end); use --mode proxy',
  proxyServiceAccount: '--service-account applies to --mode passthrough only',
  passthroughImpersonation:
    'passthrough mode cannot impersonate (--as, --as-group); use --service-account NS/NAME for a narrower identity, or --mode proxy',
  groupsWithoutUser: '--as-group needs --as',
  approveMode: '--approve asks the sharer about requests policy "guarded" refuses for their tier; use it with --mode proxy and --policy guarded (the default)',
} as const;

const ruleList = z.array(z.string()).default([]);

/**
 * `--record`, `--record-input`, `--recording-fail-open`: whether exec and attach sessions are
 * recorded (they need an audit log: the recordings go next to it), whether typed input is too,
 * and whether a session whose recording cannot be written is served anyway.
 */
const recordingSchema = z.strictObject({ enabled: z.boolean().default(true), input: z.boolean().default(false), failOpen: z.boolean().default(false) });
export type RecordingSettings = z.output<typeof recordingSchema>;

const lifetimeMs = z
  .number()
  .int()
  .min(SHARE_SESSION_LIFETIME_MIN_MS, '--max-duration must be at least 1m')
  .max(MAX_TIMER_MS, '--max-duration must be at most 24d (the longest a timer can wait)');

/** The plain-data part of a share: what is shared, how, and for how long. */
const settingsShape = {
  mode: z.enum(SHARE_MODES).default('proxy'),
  /** The request policy; `mode` defaults to guarded (proxy) or open (passthrough). */
  policy: z.strictObject({ mode: z.enum(POLICY_MODES).optional(), allow: ruleList, deny: ruleList }).default({ allow: [], deny: [] }),
  /** TCP targets offered besides the API server (`--expose`). */
  expose: z.array(TcpTargetSchema).max(SESSION_TARGETS_MAX - 1).default([]),
  /** `--as` / `--as-group` (proxy mode only). */
  impersonate: z.strictObject({ user: z.string().min(1).optional(), groups: z.array(z.string().min(1)).default([]) }).optional(),
  /** `--service-account NS/NAME` (passthrough only): hand out its token instead of the agent's credentials. */
  serviceAccount: ServiceAccountRefSchema.optional(),
  /** Stop after the first client's session ends. */
  once: z.boolean().default(false),
  /** How long one paired session may last (the relay enforces its own bound too). */
  sessionLifetimeMs: lifetimeMs.default(SHARE_SESSION_LIFETIME_MS),
  /** Keep serving when the audit log cannot be written (not recommended). */
  auditFailOpen: z.boolean().default(false),
  /** Recorded exec/attach sessions (proxy mode; docs/audit.md "Recorded sessions"). */
  recording: recordingSchema.default({ enabled: true, input: false, failOpen: false }),
  /** `--approve`: hold requests the policy refuses for their tier for the sharer's answer (issue 14). */
  approve: z.boolean().default(false),
  /** `--approve-timeout`: how long a held request waits before it is declined. */
  approvalTimeoutMs: z
    .number()
    .int()
    .min(APPROVAL_TIMEOUT_MIN_MS, '--approve-timeout must be at least 1s')
    .max(APPROVAL_TIMEOUT_MAX_MS, '--approve-timeout must be at most 1h')
    .default(APPROVAL_TIMEOUT_MS),
  handshakeStepTimeoutMs: z.number().int().min(1).max(MAX_TIMER_MS).optional(),
  /**
   * `--resume-window`: how long a paired session survives a dropped link (docs/design.md §8.1),
   * sent to the relay in whole seconds; 0: a dropped link ends the session, as before.
   */
  resumeWindowMs: z
    .number()
    .int()
    .min(0)
    .max(RELAY_RESUME_WINDOW_MAX_S * 1000, `--resume-window must be at most ${RELAY_RESUME_WINDOW_MAX_S / 86_400}d`)
    .default(DEFAULT_RESUME_WINDOW_MS),
};

/** What the conflict checks read, from a share's settings or a session's configuration. */
interface CheckedSettings {
  readonly mode: ShareMode;
  readonly policy: { readonly mode?: string | undefined; readonly allow: readonly string[]; readonly deny: readonly string[] };
  readonly expose: ReadonlyArray<{ readonly name: string }>;
  readonly impersonate?: { readonly user?: string | undefined; readonly groups: readonly string[] } | undefined;
  readonly serviceAccount?: unknown;
  readonly approve?: boolean;
}

/** The combinations that cannot work, in the order they are reported. */
function checkConflicts(settings: CheckedSettings, ctx: z.RefinementCtx): void {
  const passthrough = settings.mode === 'passthrough';
  const { policy, impersonate } = settings;
  if (passthrough && ((policy.mode !== undefined && policy.mode !== 'open') || policy.allow.length > 0 || policy.deny.length > 0)) {
    ctx.addIssue({ code: 'custom', message: CONFLICTS.passthroughPolicy });
  }
  if (!passthrough && settings.serviceAccount !== undefined) ctx.addIssue({ code: 'custom', message: CONFLICTS.proxyServiceAccount });
  if (passthrough && impersonate !== undefined && (impersonate.user !== undefined || impersonate.groups.length > 0)) {
    ctx.addIssue({ code: 'custom', message: CONFLICTS.passthroughImpersonation });
  }
  if (impersonate !== undefined && impersonate.user === undefined && impersonate.groups.length > 0) ctx.addIssue({ code: 'custom', message: CONFLICTS.groupsWithoutUser });
  if (settings.approve === true && (passthrough || (policy.mode !== undefined && policy.mode !== 'guarded'))) ctx.addIssue({ code: 'custom', message: CONFLICTS.approveMode });
  const names = new Set<string>();
  for (const target of settings.expose) {
    if (names.has(target.name)) ctx.addIssue({ code: 'custom', path: ['expose'], message: `"${target.name}" is exposed twice` });
    names.add(target.name);
  }
}

/** Impersonation as the kube proxy applies it. */
export interface Impersonation {
  readonly user: string;
  readonly groups: readonly string[];
}

/** Defaults filled in and the policy's mode decided. */
function resolveSettings<T extends z.output<z.ZodObject<typeof settingsShape>>>(settings: T) {
  const { impersonate, policy, ...rest } = settings;
  return {
    ...rest,
    policy: { mode: policy.mode ?? (settings.mode === 'passthrough' ? 'open' : 'guarded'), allow: policy.allow, deny: policy.deny },
    impersonate: impersonate?.user === undefined ? undefined : ({ user: impersonate.user, groups: impersonate.groups } satisfies Impersonation),
  };
}

/** The settings alone: what the CLI checks before it touches the kubeconfig, the keychain or the relay. */
export const ShareSettingsSchema = z.strictObject(settingsShape).superRefine(checkConflicts).transform(resolveSettings);
export type ShareSettingsInput = z.input<typeof ShareSettingsSchema>;
export type ShareSettings = z.output<typeof ShareSettingsSchema>;

const upstreamSchema = z.custom<UpstreamCluster>(
  (value) => typeof value === 'object' && value !== null && (value as { server?: unknown }).server instanceof URL && typeof (value as { auth?: unknown }).auth === 'function',
  'an UpstreamCluster (loadUpstreamCluster)',
);
const auditSchema = z.custom<AuditLog>(
  (value) => typeof value === 'object' && value !== null && typeof (value as { append?: unknown }).append === 'function',
  'an AuditLog (AuditLog.open)',
);

/** A whole share (CodeOffer): the settings, the relay, the cluster and the audit log. */
export const ShareConfigSchema = z
  .strictObject({
    ...settingsShape,
    relay: RelayEndpointSchema,
    upstream: upstreamSchema,
    /** Where connections and requests are recorded; the caller opens and closes it. */
    audit: auditSchema.optional(),
    /** Reconnect and liveness timing (tests shorten it); defaults in src/limits.ts. */
    linkTiming: LinkTimingSchema.optional(),
  })
  .superRefine(checkConflicts)
  .transform(resolveSettings);
export type ShareConfigInput = z.input<typeof ShareConfigSchema>;
export type ShareConfig = z.output<typeof ShareConfigSchema>;

/** One paired session (AgentSession): the share's resolved settings and the relay's session id. */
export const AgentSessionConfigSchema = z
  .strictObject({
    sessionId: z.string().regex(new RegExp(SESSION_ID_PATTERN), 'a relay session id'),
    mode: z.enum(SHARE_MODES),
    policy: z.custom<RequestPolicy>((value) => value instanceof RequestPolicy, 'a RequestPolicy'),
    expose: z.array(TcpTargetSchema).max(SESSION_TARGETS_MAX - 1),
    impersonate: z.strictObject({ user: z.string().min(1), groups: z.array(z.string().min(1)) }).optional(),
    serviceAccount: ServiceAccountRefSchema.optional(),
    sessionLifetimeMs: lifetimeMs,
    auditFailOpen: z.boolean(),
    recording: recordingSchema.default({ enabled: true, input: false, failOpen: false }),
    /** The resume window told to the client in the session description (0: none). */
    resumeWindowMs: z.number().int().min(0).max(RELAY_RESUME_WINDOW_MAX_S * 1000).default(0),
    upstream: upstreamSchema,
    audit: auditSchema.optional(),
    /** `share --approve`: the share's queue of requests held for the sharer. */
    approvals: z.custom<ApprovalQueue>((value) => value instanceof ApprovalQueue, 'an ApprovalQueue').optional(),
  })
  .superRefine((config, ctx) => checkConflicts({ ...config, approve: config.approvals !== undefined, ...config, policy: { mode: config.policy.mode, allow: config.policy.description.allow, deny: config.policy.description.deny } }, ctx));
export type AgentSessionConfigInput = z.input<typeof AgentSessionConfigSchema>;
export type AgentSessionConfig = z.output<typeof AgentSessionConfigSchema>;

/**
 * Check share settings and build their policy; throws KP_ERR_INVALID_ARGUMENT (exit 2) with the
 * first problem, or the policy's own KP_ERR_POLICY_* error. Nothing is touched outside.
 */
export function checkShareSettings(input: ShareSettingsInput): { readonly settings: ShareSettings; readonly policy: RequestPolicy } {
  const settings = parseWith(ShareSettingsSchema, input, 'KP_ERR_INVALID_ARGUMENT');
  return { settings, policy: RequestPolicy.create(settings.policy) };
}

/** Check a whole share configuration and build its policy (CodeOffer's constructor). */
export function checkShareConfig(input: ShareConfigInput): { readonly config: ShareConfig; readonly policy: RequestPolicy } {
  const config = parseWith(ShareConfigSchema, input, 'KP_ERR_INVALID_ARGUMENT');
  return { config, policy: RequestPolicy.create(config.policy) };
}

/** Check one session's configuration (AgentSession's constructor). */
export function checkAgentSessionConfig(input: AgentSessionConfigInput): AgentSessionConfig {
  return parseWith(AgentSessionConfigSchema, input, 'KP_ERR_INVALID_ARGUMENT');
}
