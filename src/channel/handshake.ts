/**
 * The pairing handshake (docs/design.md §4, normative): CPACE-X25519-SHA512 in the
 * initiator-responder setting, agent = initiator A, client = responder B, followed by explicit key
 * confirmation.
 *
 *   agent                                   client
 *   HELLO_A  (Ya | ADa)          ───────►
 *                                ◄───────   HELLO_B  (Yb | ADb)
 *   CONFIRM_A (HMAC confirm a)   ───────►   checks it (constant time), only then
 *                                ◄───────   CONFIRM_B (HMAC confirm b)
 *   checks it (constant time)
 *
 * Inputs: PRS = the 8 secret digits, sid = the 16 session_id bytes, CI = lv_cat("kubepair/1").
 * Each wait has a timeout; every frame is length-checked and schema-validated before use; the
 * peer's share must be canonical and give K != G.I. Once the agent has sent CONFIRM_A the peer
 * could test one guess of the code, so any failure from then on is KP_ERR_PAIRING_FAILED and
 * counts as an attempt. Secrets (scalars, K, ISK, confirmation keys) are wiped on every path.
 * Each side's AD also announces `channel.resume` (docs/design.md §8.1) unless `offerResumption` is
 * false. A side's own share does not depend on the peer's messages: the client makes it before
 * HELLO_A arrives, the agent may make it before `peer_connected` (HandshakeShare); the frames and
 * their order stay as above.
 */
import { constantTimeEqual, isAllZero, wipe } from '../crypto/bytes.js';
import {
  calculateGenerator,
  computeIskIr,
  kubepairChannelIdentifier,
  sampleScalar,
  scalarMult,
  scalarMultVfy,
} from '../crypto/cpace.js';
import type { SessionKeys, TrafficSecret } from '../crypto/key-schedule.js';
import { SESSION_ID_BYTES, confirmationTag, copyTrafficSecret, deriveSessionKeys } from '../crypto/key-schedule.js';
import { KubepairError, isKubepairError } from '../errors/index.js';
import { HANDSHAKE_STEP_TIMEOUT_MS } from '../limits.js';
import { PROTOCOL } from '../version.js';
import type { AssociatedData, ChannelRole } from './associated-data.js';
import { RESUME_CAPABILITY, decodeAssociatedData, encodeAssociatedData, withChannelCapabilities } from './associated-data.js';
import { FrameInbox } from './frame-inbox.js';
import { HandshakeType, decodeConfirm, decodeHello, encodeConfirm, encodeHello } from './handshake-messages.js';
import type { PairingCode } from './pairing-code.js';
import { pairingSecretBytes } from './pairing-code.js';
import type { MessageTransport } from './transport.js';

export interface HandshakeOptions {
  readonly transport: MessageTransport;
  /** The pairing code; only its secret enters the handshake (as PRS). */
  readonly code: PairingCode;
  /** The relay's session_id, 16 bytes (CPace sid and HKDF salt). */
  readonly sessionId: Uint8Array;
  /** Capabilities announced in this side's associated data (the channel adds its own). */
  readonly caps?: readonly string[];
  /** Announce `channel.resume` (default true); false models a peer that cannot resume. */
  readonly offerResumption?: boolean;
  /** Longest wait for each peer message (default 15 s). */
  readonly stepTimeoutMs?: number;
  readonly signal?: AbortSignal;
  /**
   * This side's share, made ahead for the same code and session id (HandshakeShare); the
   * handshake takes it and wipes it. Without it the handshake makes its own.
   */
  readonly share?: HandshakeShare;
}

export interface HandshakeResult {
  readonly role: ChannelRole;
  /** Key and iv for records this side sends. */
  readonly send: TrafficSecret;
  /** Key and iv for records this side receives. */
  readonly receive: TrafficSecret;
  /** The peer's validated associated data. */
  readonly peer: AssociatedData;
  /** The relay's session id (a copy): RESUME messages name it. */
  readonly sessionId: Uint8Array;
  /**
   * Key of the RESUME MAC (docs/design.md §8.1), a copy; SecureChannel keeps it and wipes it on
   * close.
   */
  readonly resumeKey: Uint8Array;
  /** Both sides offered `channel.resume`: only then may the channel resume. */
  readonly resumption: boolean;
  /** The transport's inbox, still holding any record that arrived early; hand it to SecureChannel. */
  readonly inbox: FrameInbox;
}

interface Prepared {
  readonly prs: Uint8Array;
  readonly generator: Uint8Array;
  readonly scalar: Uint8Array;
  readonly share: Uint8Array;
}

function prepare(options: Pick<HandshakeOptions, 'code' | 'sessionId'>): Prepared {
  if (options.sessionId.length !== SESSION_ID_BYTES) {
    throw new KubepairError('KP_ERR_INVALID_ARGUMENT', `session id must be ${SESSION_ID_BYTES} bytes`);
  }
  const prs = pairingSecretBytes(options.code);
  const generator = calculateGenerator(prs, kubepairChannelIdentifier(PROTOCOL), options.sessionId);
  const scalar = sampleScalar();
  const share = scalarMult(scalar, generator);
  // An all-zero share would mean the generator is a low-order point: impossible from the hash,
  // but refusing it costs nothing.
  if (isAllZero(share)) throw new KubepairError('KP_ERR_INTERNAL', 'generator of low order');
  return { prs, generator, scalar, share };
}

/**
 * This side's CPace share made ahead of its handshake (issue 15, start-up): the generator and the
 * share depend only on the code and the session id, not on anything the peer sends, so a side can
 * compute them (a hash-to-curve and an X25519, a few ms on a cold start) while it waits — the
 * agent for `peer_connected`, the client for HELLO_A — instead of after the peer's message. What
 * goes on the wire, and when, is unchanged (docs/protocol.md §5).
 *
 * Secret: the scalar. A share serves exactly one handshake, for the same code and session id
 * (both checked when it is taken); the handshake wipes it on every path, and an owner that does
 * not use it calls `wipe()`. Never reuse one across pairing attempts: each attempt draws a fresh
 * scalar.
 */
export class HandshakeShare {
  #prepared: Prepared | undefined;
  readonly #sessionId: Uint8Array;

  constructor(code: PairingCode, sessionId: Uint8Array) {
    this.#prepared = prepare({ code, sessionId });
    this.#sessionId = Uint8Array.from(sessionId);
  }

  /** The secrets, for the handshake of `options` only; afterwards this share holds nothing. */
  take(options: Pick<HandshakeOptions, 'code' | 'sessionId'>): Prepared {
    const prepared = this.#prepared;
    this.#prepared = undefined;
    if (prepared === undefined) throw new KubepairError('KP_ERR_INTERNAL', 'a handshake share serves one handshake');
    const prs = pairingSecretBytes(options.code);
    const same = constantTimeEqual(prs, prepared.prs) && constantTimeEqual(options.sessionId, this.#sessionId);
    wipe(prs);
    if (!same) {
      wipe(prepared.prs, prepared.scalar);
      throw new KubepairError('KP_ERR_INTERNAL', 'the handshake share was made for another code or session');
    }
    return prepared;
  }

  /** Wipe the scalar and the secret of a share no handshake took (idempotent). */
  wipe(): void {
    wipe(this.#prepared?.prs, this.#prepared?.scalar);
    this.#prepared = undefined;
  }
}

/** The share made ahead (HandshakeShare), else a fresh one. */
function takeOrPrepare(options: HandshakeOptions): Prepared {
  return options.share === undefined ? prepare(options) : options.share.take(options);
}

function sharedPoint(scalar: Uint8Array, peerShare: Uint8Array): Uint8Array {
  const k = scalarMultVfy(scalar, peerShare);
  // draft-irtf-cfrg-cpace: "MUST abort if K = G.I" — a low-order share forces a known K.
  if (isAllZero(k)) throw new KubepairError('KP_ERR_INVALID_PUBLIC_SHARE', 'the shared point is the neutral element');
  return k;
}

/** Every secret one handshake creates, wiped together on every exit path. */
class HandshakeSecrets {
  prepared: Prepared | undefined;
  k: Uint8Array | undefined;
  isk: Uint8Array | undefined;
  keys: SessionKeys | undefined;

  wipe(): void {
    wipe(this.prepared?.prs, this.prepared?.scalar, this.k, this.isk);
    const keys = this.keys;
    if (keys !== undefined) {
      wipe(
        keys.confirmA,
        keys.confirmB,
        keys.agentToClient.key,
        keys.agentToClient.iv,
        keys.clientToAgent.key,
        keys.clientToAgent.iv,
        keys.resume,
      );
    }
  }
}

/** The result for `role`: copies of its traffic secrets and resume key (the originals are wiped). */
function handshakeResult(
  role: ChannelRole,
  keys: SessionKeys,
  peer: AssociatedData,
  inbox: FrameInbox,
  options: HandshakeOptions,
): HandshakeResult {
  const [send, receive] = role === 'agent' ? [keys.agentToClient, keys.clientToAgent] : [keys.clientToAgent, keys.agentToClient];
  return {
    role,
    send: copyTrafficSecret(send),
    receive: copyTrafficSecret(receive),
    peer,
    inbox,
    sessionId: Uint8Array.from(options.sessionId),
    resumeKey: Uint8Array.from(keys.resume),
    resumption: (options.offerResumption ?? true) && peer.caps.includes(RESUME_CAPABILITY),
  };
}

function pairingFailed(detail: string, cause?: unknown): KubepairError {
  return new KubepairError('KP_ERR_PAIRING_FAILED', detail, { cause });
}

/** Run the agent (initiator A) side over a transport whose peer is connected. */
export async function runAgentHandshake(options: HandshakeOptions): Promise<HandshakeResult> {
  const timeout = options.stepTimeoutMs ?? HANDSHAKE_STEP_TIMEOUT_MS;
  const inbox = new FrameInbox(options.transport);
  const secrets = new HandshakeSecrets();
  let success = false;
  try {
    const prepared = (secrets.prepared = takeOrPrepare(options));
    const ada = encodeAssociatedData('agent', withChannelCapabilities(options.caps ?? [], options.offerResumption ?? true));
    const helloA = encodeHello(HandshakeType.HELLO_A, prepared.share, ada);
    options.transport.send(helloA);

    const helloBFrame = await inbox.next('HELLO_B', timeout, options.signal);
    const helloB = decodeHello(helloBFrame, HandshakeType.HELLO_B);
    const peer = decodeAssociatedData(helloB.ad, 'client');
    const k = (secrets.k = sharedPoint(prepared.scalar, helloB.share));
    const isk = (secrets.isk = computeIskIr(options.sessionId, k, prepared.share, ada, helloB.share, helloB.ad));
    const keys = (secrets.keys = deriveSessionKeys(isk, options.sessionId));
    options.transport.send(encodeConfirm(HandshakeType.CONFIRM_A, confirmationTag(keys.confirmA, helloA, helloBFrame)));

    // From here the peer holds CONFIRM_A and could have tested one guess: every failure counts.
    let tagB: Uint8Array;
    try {
      tagB = decodeConfirm(await inbox.next('CONFIRM_B', timeout, options.signal), HandshakeType.CONFIRM_B);
    } catch (err) {
      if (isKubepairError(err, 'KP_ERR_ABORTED')) throw err;
      throw pairingFailed('the client did not confirm the key', err);
    }
    if (!constantTimeEqual(tagB, confirmationTag(keys.confirmB, helloA, helloBFrame))) {
      throw pairingFailed('the client proved a different key');
    }
    success = true;
    return handshakeResult('agent', keys, peer, inbox, options);
  } finally {
    if (!success) inbox.dispose();
    secrets.wipe();
  }
}

/** Run the client (responder B) side over a transport connected to the agent's session. */
export async function runClientHandshake(options: HandshakeOptions): Promise<HandshakeResult> {
  const timeout = options.stepTimeoutMs ?? HANDSHAKE_STEP_TIMEOUT_MS;
  const inbox = new FrameInbox(options.transport);
  const secrets = new HandshakeSecrets();
  let success = false;
  try {
    // This side's share does not depend on HELLO_A: made while it is on its way (issue 15).
    const prepared = (secrets.prepared = takeOrPrepare(options));
    const helloAFrame = await inbox.next('HELLO_A', timeout, options.signal);
    const helloA = decodeHello(helloAFrame, HandshakeType.HELLO_A);
    const peer = decodeAssociatedData(helloA.ad, 'agent');
    const k = (secrets.k = sharedPoint(prepared.scalar, helloA.share));
    const adb = encodeAssociatedData('client', withChannelCapabilities(options.caps ?? [], options.offerResumption ?? true));
    const helloB = encodeHello(HandshakeType.HELLO_B, prepared.share, adb);
    options.transport.send(helloB);
    const isk = (secrets.isk = computeIskIr(options.sessionId, k, helloA.share, helloA.ad, prepared.share, adb));
    const keys = (secrets.keys = deriveSessionKeys(isk, options.sessionId));

    const tagA = decodeConfirm(await inbox.next('CONFIRM_A', timeout, options.signal), HandshakeType.CONFIRM_A);
    // Check the agent's proof before giving ours: a wrong code reveals nothing more.
    if (!constantTimeEqual(tagA, confirmationTag(keys.confirmA, helloAFrame, helloB))) {
      throw pairingFailed('the agent proved a different key');
    }
    options.transport.send(encodeConfirm(HandshakeType.CONFIRM_B, confirmationTag(keys.confirmB, helloAFrame, helloB)));
    success = true;
    return handshakeResult('client', keys, peer, inbox, options);
  } finally {
    if (!success) inbox.dispose();
    secrets.wipe();
  }
}
