/**
 * What a running `kubepair connect` answers on its control socket: `status` only (docs/usage.md
 * "kubepair status"). Nothing here changes the session: only the agent decides its policy and
 * lifetime, so the connect side registers no such command and a request for one is answered
 * KP_ERR_CONTROL_COMMAND_UNKNOWN.
 *
 * Untrusted input: the request (checked by the control server; `status` takes no arguments).
 */
import * as z from 'zod';
import type { ClientTunnel } from '../client/client-tunnel.js';
import type { ControlServer } from '../control/control-server.js';
import type { ProcessStatus } from '../control/session-status.js';
import { CONTROL_COMMANDS } from '../control/session-status.js';
import { sanitizeClusterName } from '../session/cluster-name.js';

export function registerConnectControl(server: ControlServer, tunnel: ClientTunnel): void {
  server.register(CONTROL_COMMANDS.status, z.strictObject({}), (): ProcessStatus => {
    const info = tunnel.info;
    return {
      role: 'connect',
      pid: process.pid,
      sessions:
        info === undefined
          ? []
          : [
              {
                id: info.id,
                peer: `the sharer of cluster "${sanitizeClusterName(info.cluster)}" via ${info.relay}`,
                mode: info.mode,
                policy: info.policy,
                bytes_from_peer: info.bytesFromAgent,
                bytes_to_peer: info.bytesToAgent,
                started_at: info.startedAt.toISOString(),
                expires_at: info.expiresAt.toISOString(),
                link: info.link,
              },
            ],
    };
  });
}
