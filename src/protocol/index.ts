/**
 * Public surface of the protocol module (docs/architecture.md "The protocol module"): every
 * message kubepair puts on a wire, as zod schemas with their TypeScript types, shared by the
 * roles so that producer and consumer agree by construction. Named exports only.
 */
export { MUX_H2_CAPABILITY, PEER_CAPABILITIES } from './capabilities.js';
export { BYE_REASONS, ByeMessageSchema, CONTROL_TYPES, ControlEnvelopeSchema } from './channel-control.js';
export type { ByeMessage, ByeReason, ControlMessage } from './channel-control.js';
export { POLICY_MODES, policyShapeSchema } from './policy-shape.js';
export type { PolicyMode, PolicyShape } from './policy-shape.js';
export {
  API_PAIR_PATH,
  API_SESSIONS_PATH,
  CreateSessionRequestSchema,
  CreateSessionResponseSchema,
  EndSessionParamsSchema,
  HEALTHZ_PATH,
  METRICS_PATH,
  NAMEPLATE_PATTERN,
  PEER_ROLES,
  PairRequestSchema,
  PairResponseSchema,
  ProbeStatusSchema,
  READYZ_PATH,
  RELAY_TOKEN_PATTERN,
  RELAY_TOKEN_PREFIX,
  RelayErrorBodySchema,
  RelayTimestampSchema,
  SESSION_ID_PATTERN,
  SESSION_KEY_PATTERN,
  WS_PATH_PREFIX,
  relaySocketPath,
} from './relay-api.js';
export type { CreateSessionRequest, CreateSessionResponse, EndSessionParams, PairRequest, PairResponse, PeerRole, ProbeStatus, RelayErrorBody } from './relay-api.js';
export { AgentControlMessageSchema, RelayControlMessageSchema, parseControlFrame } from './relay-control.js';
export type { AgentControlMessage, RelayControlMessage } from './relay-control.js';
export { parseSessionDescription, sessionDescriptionSchema } from './session-description.js';
export type { SessionDescription } from './session-description.js';
export { KUBE_API_TARGET, assertTargetName, isValidTargetName } from './target-name.js';
export { describeIssue, parseWith } from './validate.js';
