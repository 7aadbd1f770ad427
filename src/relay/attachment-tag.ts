/**
 * Attachment tags (session-store.ts) that say which relay node holds a socket (docs/design.md
 * §8.2, plan item 2): `{node id} {12 random bytes, base64url}`, the node id being the node's
 * --advertise URL, or just the random part on a node that is not in a cluster. Any node reading a
 * session record can then tell whether a side's socket is its own or which node to splice to.
 *
 * Untrusted input: none directly; tags are written by relay nodes, but a tag read back from a
 * shared store is parsed strictly (a store is trusted, a malformed tag still names no node).
 */
import { randomBytes } from 'node:crypto';

const RANDOM_PATTERN = /^[A-Za-z0-9_-]{16}$/;

/** A fresh tag for a socket accepted by node `nodeId` (undefined: a single node). */
export function newAttachmentTag(nodeId: string | undefined): string {
  const random = randomBytes(12).toString('base64url');
  return nodeId === undefined ? random : `${nodeId} ${random}`;
}

/** The node that holds the socket tagged `tag`; undefined for a single node's tag, '' or a malformed one. */
export function nodeOfAttachment(tag: string): string | undefined {
  const space = tag.lastIndexOf(' ');
  if (space <= 0 || !RANDOM_PATTERN.test(tag.slice(space + 1))) return undefined;
  const node = tag.slice(0, space);
  return /^https?:\/\/[\x21-\x7e]+$/.test(node) ? node : undefined;
}
