/**
 * The lines `share` and `connect` print when their link to the relay drops and when it comes
 * back (docs/design.md §8.1 "Liveness": one line each, with how long it took). Text only; the role
 * objects report the events (ClientTunnel, AgentSession) and the outputs print these.
 * A resumption always means "nothing lost": the channel retransmits every unacknowledged
 * record, or the session ends instead (docs/protocol.md §7.5).
 */

/** "4.2 s", "850 ms", "3 min 5 s". */
export function outageText(ms: number): string {
  if (ms < 1_000) return `${Math.max(0, Math.round(ms))} ms`;
  if (ms < 60_000) return `${(Math.round(ms / 100) / 10).toFixed(1)} s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1_000);
  return seconds === 0 ? `${minutes} min` : `${minutes} min ${seconds} s`;
}

/** The line for a dropped link: whose carrier went, and that the session waits. */
export function droppedLine(side: 'carrier' | 'peer', peerName: string): string {
  return side === 'carrier'
    ? 'the link to the relay dropped; reconnecting (sessions and streams wait)'
    : `the ${peerName}'s link to the relay dropped; waiting for it to come back`;
}

/** The line for a link that is back: "resumed after 4.2 s; nothing lost". */
export function resumedLine(outageMs: number): string {
  return `resumed after ${outageText(outageMs)}; nothing lost`;
}

/**
 * How long the link was down as the user saw it: the channel's own outage when this side's
 * carrier dropped, else the time since the drop line was printed (the peer's carrier dropped and
 * ours stayed up: the channel reports 0).
 */
export function shownOutageMs(channelOutageMs: number, droppedAt: number | undefined, now: number): number {
  return channelOutageMs > 0 || droppedAt === undefined ? channelOutageMs : Math.max(0, now - droppedAt);
}
