/**
 * What tests of a SessionStore (src/relay/session-store.ts) feed it: one session policy with room
 * for every test, a key expiry far enough away, fresh key digests and a creator. Shared by the
 * contract suite (test/integration/relay/session-store-contract.test.ts) and the memory store's
 * own timer tests.
 */
import { randomBytes } from 'node:crypto';
import type { SessionPolicy } from '../../src/relay/session-store.js';

export const TEST_SESSION_POLICY: SessionPolicy = {
  unpairedTtlMs: 60_000,
  establishedLifetimeMs: 120_000,
  claimConnectTimeoutMs: 30_000,
  maxPairingAttempts: 5,
  maxSessions: 100,
  maxSessionsPerToken: 50,
  maxSessionsPerAddress: 50,
  nameplateQuarantineMs: 0,
  maxResumeWindowMs: 60_000,
  maxRecreatedWaiting: 10,
};

/** The key expiry written into test sessions (the store only keeps and reports it). */
export const TEST_KEY_EXPIRY = Date.now() + 3_600_000;

/** A fresh 32-byte key digest. */
export const digest = (): Uint8Array => randomBytes(32);

/** The creator of test sessions. */
export const actor = { tokenName: 'agent-1', address: '127.0.0.1' };
