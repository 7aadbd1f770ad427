/**
 * Error codes of how `share` and `connect` reach a relay (docs/design.md §3, §7): the HTTPS proxy
 * they tunnel through (HTTPS_PROXY, NO_PROXY) and the OS keychain that holds relay tokens
 * (`kubepair token`). Kept apart from relay-errors.ts on purpose: a relay may send any code of
 * that table in an error body, and it has no business claiming a proxy or keychain failure.
 * Codes are never reused once retired; add new ones at the end of the table.
 */
import type { ErrorSpec } from './error-spec.js';

export const RELAY_ACCESS_ERRORS = {
  KP_ERR_PROXY_INVALID: { message: 'the HTTPS proxy setting is invalid', exit: 2 },
  KP_ERR_PROXY_UNREACHABLE: { message: 'cannot reach the HTTPS proxy', exit: 1 },
  KP_ERR_PROXY_REFUSED: { message: 'the HTTPS proxy refused to open a tunnel to the relay', exit: 1 },
  KP_ERR_KEYCHAIN_UNAVAILABLE: {
    message: 'no OS keychain is available (on Linux: a Secret Service such as gnome-keyring or KWallet on the D-Bus session bus); put the relay token in the KUBEPAIR_TOKEN environment variable instead',
    exit: 1,
  },
  KP_ERR_KEYCHAIN_FAILED: { message: 'the OS keychain refused the operation', exit: 1 },
} as const satisfies Record<string, ErrorSpec>;
