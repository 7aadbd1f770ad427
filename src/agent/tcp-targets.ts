/**
 * Raw TCP targets of the agent (docs/design.md §5): names offered with `--expose NAME=HOST:PORT`,
 * and the API server itself in passthrough mode. The agent maps each name to an address it chose;
 * the client only ever names a target, so it cannot make the agent dial anywhere else. A
 * handler runs only for a stream the mux's audit gate admitted (connection-audit.ts: its
 * `connection_opened` record is written before this dials), and resolves with the bytes it
 * carried for the `connection_closed` record.
 *
 * The socket to the target has Nagle's algorithm off (TCP_NODELAY, issue 15): a request that
 * reaches the agent in two records (an HTTP head, then its body) is written in two writes, and
 * with Nagle on the second would wait for the target's ACK of the first, which a target delays
 * for up to 40 ms (Linux) or 200 ms. Every other socket on the path has it off too (the relay's,
 * by ws; connect's local ones, by LocalListener).
 */
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import * as z from 'zod';
import { KubepairError } from '../errors/index.js';
import type { StreamOutcome } from '../mux/mux-server.js';
import { SocketReads } from '../mux/socket-reads.js';
import { splice } from '../mux/splice.js';
import { KUBE_API_TARGET, isValidTargetName } from '../protocol/target-name.js';

export interface TcpTarget {
  readonly name: string;
  readonly host: string;
  readonly port: number;
}

const TARGET_HOST = /^[A-Za-z0-9.:-]{1,253}$/;

/** A target in a share's configuration: a name the client may ask for, and where the agent dials. */
export const TcpTargetSchema = z.strictObject({
  name: z
    .string()
    .refine(isValidTargetName, 'lowercase letters, digits and dashes only')
    .refine((name) => name !== KUBE_API_TARGET, `"${KUBE_API_TARGET}" is reserved for the API server`),
  host: z.string().regex(TARGET_HOST, 'a host name or IP address'),
  port: z.number().int().min(1).max(65535),
});

/** Parse `NAME=HOST:PORT` (HOST may be `[v6]`); throws KP_ERR_TARGET_SPEC (exit 2) with the reason. */
export function parseExposeSpec(spec: string): TcpTarget {
  const match = /^([^=]+)=(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(spec.trim());
  if (match === null) throw new KubepairError('KP_ERR_TARGET_SPEC', `"${spec.slice(0, 100)}"`);
  const [, name = '', rawHost = '', rawPort = ''] = match;
  if (!isValidTargetName(name)) {
    throw new KubepairError('KP_ERR_TARGET_SPEC', `name "${name}": lowercase letters, digits and dashes only`);
  }
  if (name === KUBE_API_TARGET) throw new KubepairError('KP_ERR_TARGET_SPEC', `"${KUBE_API_TARGET}" is reserved for the API server`);
  const port = Number(rawPort);
  if (port < 1 || port > 65535) throw new KubepairError('KP_ERR_TARGET_SPEC', `port ${rawPort} is not 1-65535`);
  const host = rawHost.startsWith('[') ? rawHost.slice(1, -1) : rawHost;
  if (!TARGET_HOST.test(host)) throw new KubepairError('KP_ERR_TARGET_SPEC', `host "${host.slice(0, 100)}"`);
  return { name, host, port };
}

/** Parse every `--expose` and refuse repeated names. */
export function parseExposeSpecs(specs: readonly string[]): TcpTarget[] {
  const targets = specs.map(parseExposeSpec);
  const names = new Set<string>();
  for (const target of targets) {
    if (names.has(target.name)) throw new KubepairError('KP_ERR_TARGET_SPEC', `"${target.name}" is exposed twice`);
    names.add(target.name);
  }
  return targets;
}

export interface TcpPipeOptions {
  /** Called with every failure to connect or to carry bytes (for the agent's log). */
  readonly onError?: (target: TcpTarget, error: Error) => void;
}

/**
 * A handler that dials `target`'s address for each admitted tunnel stream and pipes the two
 * together; it resolves when both are closed, with the bytes from (`bytesIn`) and to
 * (`bytesOut`) the client and the first error.
 */
export function tcpTargetHandler(target: TcpTarget, options: TcpPipeOptions = {}): (stream: Duplex) => Promise<StreamOutcome> {
  return (stream) =>
    new Promise((resolve) => {
      // Reads of up to SOCKET_READ_BYTES: a bulk download travels in records of that size.
      const reads = new SocketReads();
      const socket = connect({ host: target.host, port: target.port, allowHalfOpen: true, onread: reads.onread });
      // Before the connection is up Node keeps it and applies it once connected.
      socket.setNoDelay(true);
      splice(
        stream,
        socket,
        (error, counters) => {
          if (error !== undefined) options.onError?.(target, error);
          resolve({ bytesIn: counters.aToB, bytesOut: counters.bToA, ...(error !== undefined && { error }) });
        },
        { reads: { b: reads } },
      );
    });
}
