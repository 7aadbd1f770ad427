/**
 * Node-to-node authentication of a relay cluster (docs/design.md §8.2, plan item 4): the cluster
 * key every node shares (`--cluster-key-file`) and the proof a node puts on an internal request
 * (the splice link's WebSocket upgrade) so that the node it calls knows the caller is one of the
 * cluster's nodes.
 *
 * The proof is HMAC-SHA256 under the cluster key over a domain label, the request's method and
 * path, the calling node's id (its --advertise URL), the caller's clock (unix ms) and a fresh
 * nonce. The receiver recomputes it and compares in constant time, refuses a time more than
 * RELAY_NODE_PROOF_MAX_SKEW_MS from its own clock, and refuses a nonce it saw within that window
 * (a replay). It says only "refused", never which part failed.
 *
 * The key file is checked like the relay secret (relay-secret.ts): a regular file, not a symbolic
 * link, owned by the relay's user, readable by nobody else, RELAY_CLUSTER_KEY_MIN_BYTES to
 * RELAY_CLUSTER_KEY_MAX_BYTES long (one trailing newline is not part of the key). It is never
 * logged. Untrusted input: every header of an internal request, and the key file's state on disk.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { KubepairError } from '../errors/index.js';
import { RELAY_CLUSTER_KEY_MAX_BYTES, RELAY_CLUSTER_KEY_MIN_BYTES, RELAY_NODE_NONCES_REMEMBERED, RELAY_NODE_PROOF_MAX_SKEW_MS } from '../limits.js';

/** Header names of a node's proof (lower case, as node:http hands them over). */
export const NODE_HEADER = 'kubepair-node';
export const NODE_TIME_HEADER = 'kubepair-node-time';
export const NODE_NONCE_HEADER = 'kubepair-node-nonce';
export const NODE_PROOF_HEADER = 'kubepair-node-proof';

const PROOF_LABEL = 'kubepair-node-v1';
const NONCE_BYTES = 16;
const NONCE_PATTERN = /^[A-Za-z0-9_-]{22}$/;
const PROOF_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const TIME_PATTERN = /^\d{1,15}$/;
/** Node ids and paths are single-line printable ASCII, so the proof's fields cannot run together. */
const FIELD_PATTERN = /^[\x21-\x7e]{1,2048}$/;

/** Read and check the cluster key file; throws KP_ERR_RELAY_CLUSTER_KEY naming what is wrong. */
export async function loadClusterKey(path: string): Promise<Buffer> {
  let handle: FileHandle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new KubepairError('KP_ERR_RELAY_CLUSTER_KEY', `${path} is a symbolic link; refusing to follow it`, { cause: err });
    throw new KubepairError('KP_ERR_RELAY_CLUSTER_KEY', `cannot open ${path}${code === undefined ? '' : ` (${code})`}`, { cause: err });
  }
  try {
    const info = await handle.stat();
    const uid = process.getuid?.();
    if (!info.isFile()) throw new KubepairError('KP_ERR_RELAY_CLUSTER_KEY', `${path} is not a regular file`);
    if (uid !== undefined && info.uid !== uid) throw new KubepairError('KP_ERR_RELAY_CLUSTER_KEY', `${path} belongs to another user (uid ${info.uid})`);
    if ((info.mode & 0o077) !== 0) {
      throw new KubepairError(
        'KP_ERR_RELAY_CLUSTER_KEY',
        `${path} is readable or writable by other users (mode ${(info.mode & 0o777).toString(8)}); it may have leaked: make a new key for every node, chmod 600 it, and restart the nodes`,
      );
    }
    if (info.size > RELAY_CLUSTER_KEY_MAX_BYTES) throw new KubepairError('KP_ERR_RELAY_CLUSTER_KEY', `${path} is larger than ${RELAY_CLUSTER_KEY_MAX_BYTES} bytes`);
    const content = Buffer.alloc(info.size);
    const { bytesRead } = await handle.read(content, 0, info.size, 0);
    let key = content.subarray(0, bytesRead);
    if (key.at(-1) === 0x0a) key = key.subarray(0, key.length - 1);
    if (key.length < RELAY_CLUSTER_KEY_MIN_BYTES) {
      throw new KubepairError('KP_ERR_RELAY_CLUSTER_KEY', `${path} holds ${key.length} bytes; a cluster key has at least ${RELAY_CLUSTER_KEY_MIN_BYTES} (e.g. openssl rand -base64 32)`);
    }
    return Buffer.from(key);
  } finally {
    await handle.close();
  }
}

/** What a node signs: one internal request. */
export interface NodeRequest {
  readonly method: string;
  /** Path and query as sent in the request line. */
  readonly path: string;
}

function proofOf(key: Uint8Array, request: NodeRequest, nodeId: string, time: string, nonce: string): Buffer {
  return createHmac('sha256', key).update([PROOF_LABEL, request.method.toUpperCase(), request.path, nodeId, time, nonce].join('\n'), 'utf8').digest();
}

/** The headers that prove `nodeId` sends `request` (a fresh nonce each call). */
export function signNodeRequest(key: Uint8Array, nodeId: string, request: NodeRequest, now: number = Date.now()): Record<string, string> {
  const time = String(Math.floor(now));
  const nonce = randomBytes(NONCE_BYTES).toString('base64url');
  return {
    [NODE_HEADER]: nodeId,
    [NODE_TIME_HEADER]: time,
    [NODE_NONCE_HEADER]: nonce,
    [NODE_PROOF_HEADER]: proofOf(key, request, nodeId, time, nonce).toString('base64url'),
  };
}

/** A verdict on an internal request: the calling node's id, or a refusal (never saying why to the caller). */
export type NodeVerdict = { readonly ok: true; readonly nodeId: string } | { readonly ok: false; readonly reason: string };

export interface NodeRequestVerifierOptions {
  readonly maxSkewMs?: number;
  readonly noncesRemembered?: number;
  /** The clock, in unix ms (tests pass their own). */
  readonly now?: () => number;
}

/** Checks the proofs of internal requests and remembers their nonces against replays. */
export class NodeRequestVerifier {
  readonly #key: Buffer;
  readonly #maxSkewMs: number;
  readonly #capacity: number;
  readonly #now: () => number;
  /** Nonce → when it may be forgotten (unix ms), in insertion order, so the oldest go first. */
  readonly #nonces = new Map<string, number>();

  constructor(key: Uint8Array, options: NodeRequestVerifierOptions = {}) {
    this.#key = Buffer.from(key);
    this.#maxSkewMs = options.maxSkewMs ?? RELAY_NODE_PROOF_MAX_SKEW_MS;
    this.#capacity = options.noncesRemembered ?? RELAY_NODE_NONCES_REMEMBERED;
    this.#now = options.now ?? Date.now;
  }

  /** Verify the proof headers of `request`; a header given twice counts as missing. */
  verify(request: NodeRequest, headers: Readonly<Record<string, string | string[] | undefined>>): NodeVerdict {
    const nodeId = single(headers[NODE_HEADER]);
    const time = single(headers[NODE_TIME_HEADER]);
    const nonce = single(headers[NODE_NONCE_HEADER]);
    const proof = single(headers[NODE_PROOF_HEADER]);
    if (nodeId === undefined || time === undefined || nonce === undefined || proof === undefined) return refuse('missing proof headers');
    if (!FIELD_PATTERN.test(nodeId) || !FIELD_PATTERN.test(request.path) || !TIME_PATTERN.test(time) || !NONCE_PATTERN.test(nonce) || !PROOF_PATTERN.test(proof)) {
      return refuse('malformed proof headers');
    }
    const expected = proofOf(this.#key, request, nodeId, time, nonce);
    const given = Buffer.from(proof, 'base64url');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return refuse('wrong proof');
    const now = this.#now();
    if (Math.abs(now - Number(time)) > this.#maxSkewMs) return refuse('proof time outside the allowed clock skew');
    this.#forgetOld(now);
    if (this.#nonces.has(nonce)) return refuse('replayed nonce');
    // Full of nonces that are all still within the window: refuse rather than forget one early.
    if (this.#nonces.size >= this.#capacity) return refuse('too many recent internal requests');
    this.#nonces.set(nonce, now + 2 * this.#maxSkewMs);
    return { ok: true, nodeId };
  }

  #forgetOld(now: number): void {
    for (const [nonce, forgetAt] of this.#nonces) {
      if (forgetAt > now) break;
      this.#nonces.delete(nonce);
    }
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function refuse(reason: string): NodeVerdict {
  return { ok: false, reason };
}
