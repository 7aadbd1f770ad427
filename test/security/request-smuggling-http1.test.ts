/**
 * Issue 10's differential security suite against an API server that speaks only HTTP/1.1 (as
 * one behind a proxy without h2): the agent's fallback, where a desync would be possible if the
 * agent did not own the framing. Both policies, both kinds of agent credentials.
 */
import { requestSmugglingSuite } from './request-smuggling.js';

for (const policy of ['readonly', 'guarded'] as const) {
  for (const credentials of ['certificate', 'token'] as const) requestSmugglingSuite({ policy, credentials, http2: false });
}
