/**
 * Capabilities both endpoints announce in the CPace associated data (docs/design.md §4, normative:
 * ADa/ADb `{"v":1,"role",...,"caps":[...]}`). `mux.h2`: the tunnel inside the channel is one
 * HTTP/2 connection of CONNECT streams (docs/design.md §5). Agent and client announce the same
 * list.
 */

/** The tunnel is HTTP/2 CONNECT streams inside the channel (docs/design.md §5). */
export const MUX_H2_CAPABILITY = 'mux.h2';

/** What this version announces, agent and client alike. */
export const PEER_CAPABILITIES: readonly string[] = [MUX_H2_CAPABILITY];
