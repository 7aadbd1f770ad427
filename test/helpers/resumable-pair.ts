/**
 * Two resumable SecureChannels paired through a SplicingRelay, and what the tests of
 * docs/design.md §8.1 need around them: sinks that collect what each side received, a seeded random
 * generator, and a pairing that keeps copies of the resume keys so a test can play a peer that
 * holds them (a lying peer, not a relay).
 */
import { randomBytes } from 'node:crypto';
import type { HandshakeResult, PairingCode, SecureChannelOptions } from '../../src/channel/index.js';
import type { ControlMessage } from '../../src/protocol/channel-control.js';
import { SecureChannel, openSecureChannel, runAgentHandshake, runClientHandshake } from '../../src/channel/index.js';
import { isResumeFrame } from '../../src/channel/resume-message.js';
import { within } from './channel-pair.js';
import type { Role } from './splicing-relay.js';
import { SplicingRelay } from './splicing-relay.js';

export const RESUME_CODE: PairingCode = { nameplate: '42', secret: '73150286' };

export interface ResumablePair {
  readonly relay: SplicingRelay;
  readonly agent: SecureChannel;
  readonly client: SecureChannel;
  readonly sessionId: Uint8Array;
}

export interface PairOptions {
  readonly relay?: SplicingRelay;
  readonly agentOffersResumption?: boolean;
  readonly clientOffersResumption?: boolean;
}

/** Pair over `relay` with `resumable: true` (a carrier closing suspends the channel). */
export async function pairResumable(channel: SecureChannelOptions = {}, options: PairOptions = {}): Promise<ResumablePair> {
  const relay = options.relay ?? new SplicingRelay();
  const sessionId = new Uint8Array(randomBytes(16));
  const settings: SecureChannelOptions = { resumable: true, ...channel };
  const common = { code: RESUME_CODE, sessionId, stepTimeoutMs: 2000, channel: settings };
  const [agent, client] = await within(
    Promise.all([
      openSecureChannel('agent', { ...common, transport: relay.connect('agent'), offerResumption: options.agentOffersResumption ?? true }),
      openSecureChannel('client', { ...common, transport: relay.connect('client'), offerResumption: options.clientOffersResumption ?? true }),
    ]),
    5000,
    'pairing',
  );
  return { relay, agent, client, sessionId };
}

/**
 * Both handshakes through a new SplicingRelay, without channels: a test that plays one side
 * with that side's own keys builds only the other side's channel.
 */
export async function handshakeThroughRelay(): Promise<{
  readonly relay: SplicingRelay;
  readonly sessionId: Uint8Array;
  readonly agent: HandshakeResult;
  readonly client: HandshakeResult;
}> {
  const relay = new SplicingRelay();
  const sessionId = new Uint8Array(randomBytes(16));
  const [agent, client] = await within(
    Promise.all([
      runAgentHandshake({ transport: relay.connect('agent'), code: RESUME_CODE, sessionId }),
      runClientHandshake({ transport: relay.connect('client'), code: RESUME_CODE, sessionId }),
    ]),
    5000,
    'pairing',
  );
  return { relay, sessionId, agent, client };
}

/** Pair as above, keeping a copy of each side's resume key (normally only its channel has it). */
export async function pairKeepingResumeKeys(
  channel: SecureChannelOptions = {},
): Promise<ResumablePair & { readonly resumeKeys: Record<Role, Uint8Array> }> {
  const { relay, sessionId, agent: a, client: c } = await handshakeThroughRelay();
  const resumeKeys = { agent: Uint8Array.from(a.resumeKey), client: Uint8Array.from(c.resumeKey) };
  const settings: SecureChannelOptions = { resumable: true, ...channel };
  return { relay, agent: new SecureChannel(a, settings), client: new SecureChannel(c, settings), sessionId, resumeKeys };
}

/** Everything one side received: MUX bytes and CONTROL messages, in order. */
export class Sink {
  readonly #chunks: Buffer[] = [];
  readonly controls: ControlMessage[] = [];
  #length = 0;

  constructor(channel: SecureChannel) {
    channel.mux.on('data', (chunk: Buffer) => {
      this.#chunks.push(chunk);
      this.#length += chunk.length;
    });
    channel.on('control', (message) => this.controls.push(message));
  }

  get length(): number {
    return this.#length;
  }

  get bytes(): Buffer {
    return Buffer.concat(this.#chunks);
  }
}

/** The RESUME frames a relay has seen in one direction, as the test's `isResumeFrame` finds them. */
export function resumeFrames(frames: ReadonlyArray<{ frame: Uint8Array }>, sessionId: Uint8Array): Uint8Array[] {
  return frames.map((seen) => seen.frame).filter((frame) => isResumeFrame(frame, sessionId));
}

/** A small seeded generator (mulberry32), so a failing random case can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Let queued deliveries run: `turns` rounds of setImmediate. */
export async function turns(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
}
