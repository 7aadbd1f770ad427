/**
 * DurableLink's announcements (src/relay-client/durable-link.ts; docs/design.md §8.1 "Liveness":
 * one line when the link drops, one when it resumes), with a scripted channel and relay socket
 * so that the order of the channel's reports is exact: each `resumed` answers one `dropped`.
 * Found by test/e2e/durable-session.test.ts, where after a relay restart both sides opened a
 * resume exchange at once and share printed "resumed after 6.3 s; nothing lost" twice.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import type { ResumeInfo, SecureChannel } from '../../../src/channel/index.js';
import { DurableLink } from '../../../src/relay-client/index.js';
import type { RelaySocket } from '../../../src/relay-client/index.js';

/** A relay socket that only carries control frames. */
function scriptedSocket(): RelaySocket {
  return Object.assign(new EventEmitter(), { controlMessages: new EventEmitter(), abandon: () => undefined, close: () => undefined }) as unknown as RelaySocket;
}

/**
 * A resumable channel whose `resume()` completes the way SecureChannel's does when both sides
 * opened an exchange at once: the peer's opening RESUME is continued from (`resume` event,
 * initiatedByPeer) and the same info settles our own attempt.
 */
class ScriptedChannel extends EventEmitter {
  state: 'live' | 'suspended' = 'live';
  isClosed = false;
  readonly stats = { unacknowledgedMs: 0, retainedRecords: 1 };
  readonly closed = new Promise<undefined>(() => undefined);

  suspend(): void {
    this.state = 'suspended';
    this.emit('suspend', {});
  }

  resume(): Promise<ResumeInfo> {
    const info: ResumeInfo = { generation: 2, peerGeneration: 1, retransmitted: 3, initiatedByPeer: true, outageMs: 6_300 };
    this.state = 'live';
    this.emit('resume', info);
    return Promise.resolve(info);
  }

  /** The peer resumed on our live carrier. */
  peerResumed(): void {
    this.emit('resume', { generation: 3, peerGeneration: 2, retransmitted: 0, initiatedByPeer: true, outageMs: 0 } satisfies ResumeInfo);
  }

  sendControl(): boolean {
    return true;
  }

  close(): void {
    this.isClosed = true;
    this.emit('close', undefined);
  }
}

function linkOver(channel: ScriptedChannel): { link: DurableLink; events: string[] } {
  const link = new DurableLink({
    channel: channel as unknown as SecureChannel,
    socket: scriptedSocket(),
    openSocket: () => Promise.resolve(scriptedSocket()),
    resumeWindowMs: 60_000,
  });
  const events: string[] = [];
  link.on('dropped', (drop) => events.push(`dropped ${drop.side}`));
  link.on('resumed', (info) => events.push(`resumed ${info.outageMs}`));
  link.on('ended', (error) => events.push(`ended ${error.code}`));
  return { link, events };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe('DurableLink: one resumed per dropped', () => {
  it('both sides open an exchange at once: the resumption is announced once, not as the peer\'s and again as ours', async () => {
    const channel = new ScriptedChannel();
    const { link, events } = linkOver(channel);
    try {
      channel.suspend();
      await settle();
      assert.deepEqual(events, ['dropped carrier', 'resumed 6300']);
    } finally {
      link.stop();
    }
  });

  it('a peer resuming on our carrier when no drop was announced is not announced either; after an announced one it is, once', () => {
    const channel = new ScriptedChannel();
    const socket = scriptedSocket();
    const link = new DurableLink({ channel: channel as unknown as SecureChannel, socket, openSocket: () => Promise.resolve(scriptedSocket()), resumeWindowMs: 60_000 });
    const events: string[] = [];
    link.on('dropped', (drop) => events.push(`dropped ${drop.side}`));
    link.on('resumed', (info) => events.push(`resumed ${info.outageMs}`));
    try {
      channel.peerResumed();
      assert.deepEqual(events, [], 'the relay never said the peer was away');
      socket.controlMessages.emit('control', { type: 'peer_suspended' });
      channel.peerResumed();
      channel.peerResumed();
      assert.deepEqual(events, ['dropped peer', 'resumed 0']);
    } finally {
      link.stop();
    }
  });
});
