/** Attachment tags name the node holding a socket (docs/design.md §8.2, plan item 2). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { newAttachmentTag, nodeOfAttachment } from '../../../src/relay/attachment-tag.js';

describe('attachment tags', () => {
  it('a cluster node\'s tag names the node; every tag is unique', () => {
    const node = 'https://relay-a.internal:8443';
    const tags = new Set(Array.from({ length: 1000 }, () => newAttachmentTag(node)));
    assert.equal(tags.size, 1000);
    for (const tag of tags) assert.equal(nodeOfAttachment(tag), node);
  });

  it('a single node\'s tag, an empty tag and malformed tags name no node', () => {
    const single = newAttachmentTag(undefined);
    assert.match(single, /^[A-Za-z0-9_-]{16}$/);
    for (const tag of [single, '', ' abcdefghijklmnop', 'https://a abc', 'ftp://a abcdefghijklmnop', 'https://a  abcdefghijklmnop', 'agent-socket-1']) {
      assert.equal(nodeOfAttachment(tag), undefined, JSON.stringify(tag));
    }
  });
});
