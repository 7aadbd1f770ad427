/**
 * The kubepair version and wire-protocol names. The version must equal package.json's;
 * test/unit/cli/main.test.ts keeps them in step.
 */
export const VERSION = '0.1.0';
/**
 * Protocol identifier used in the relay API and the CPace channel identifier (docs/design.md §3,
 * §4).
 */
export const PROTOCOL = 'kubepair/1';
/** WebSocket subprotocol (docs/design.md §3). */
export const WS_SUBPROTOCOL = 'kubepair.v1';
