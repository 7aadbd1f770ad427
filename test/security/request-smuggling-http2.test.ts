/**
 * Issue 10's differential security suite against an API server that offers h2, as
 * kube-apiserver does: the agent's ordinary requests go over HTTP/2, upgrades over fresh
 * HTTP/1.1 connections. Both policies, both kinds of agent credentials.
 */
import { requestSmugglingSuite } from './request-smuggling.js';

for (const policy of ['readonly', 'guarded'] as const) {
  for (const credentials of ['certificate', 'token'] as const) requestSmugglingSuite({ policy, credentials, http2: true });
}
