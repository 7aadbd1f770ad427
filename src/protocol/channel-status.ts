/**
 * The bytes a server ends a Kubernetes channel-protocol session with (`channel.k8s.io` ..
 * `v5.channel.k8s.io`, the binary forms; audit/terminal-recorder.ts names them), written by the
 * agent itself when it cuts an exec or attach session (agent/kube-proxy.ts; docs/audit.md "Cut
 * sessions"): one unmasked binary message on the error channel (3), then a close frame
 * (RFC 6455 §5.2, §5.5.1; a server never masks, §5.1).
 *
 * What the error channel carries depends on the version, as kube-apiserver writes it
 * (apimachinery's remotecommand: v1WriteStatusFunc, v4WriteStatusFunc) and client-go reads it:
 * from `v4.channel.k8s.io` on, the JSON of a meta/v1 Status (a Failure's message is what kubectl
 * prints); before it, the message as plain text (kubectl prints "error executing remote
 * command: MESSAGE").
 *
 * The close code is 1000: client-go's WebSocket executor ends its streams with EOF on a normal
 * closure only, and with any other code reports "next reader: websocket: close ..." instead of
 * the Status it has just read, so the reason would be lost.
 *
 * Inputs are the agent's own; `message` is made terminal-safe by the caller.
 */
import type { KubeStatus } from './kube-status.js';
import { kubeStatus } from './kube-status.js';
import { WebSocketOpcode } from './websocket-opcode.js';

/** The error channel's number in every channel protocol: the session's final Status. */
export const ERROR_CHANNEL = 3;

/** Close code "normal closure" (RFC 6455 §7.4.1). */
export const CLOSE_NORMAL = 1000;

/** The channel protocols whose error channel carries a JSON Status (older ones carry text). */
const STATUS_JSON_PROTOCOLS: ReadonlySet<string> = new Set(['v4.channel.k8s.io', 'v5.channel.k8s.io']);

/** One unmasked, final frame with `opcode` and `payload` (a payload under 2^16 bytes). */
export function serverFrame(opcode: number, payload: Buffer): Buffer {
  if (payload.length > 0xffff) throw new RangeError('a frame the agent writes itself stays under 64 KiB');
  const extended = payload.length > 125;
  const head = Buffer.alloc(extended ? 4 : 2);
  head[0] = 0x80 | opcode;
  if (extended) {
    head[1] = 126;
    head.writeUInt16BE(payload.length, 2);
  } else head[1] = payload.length;
  return Buffer.concat([head, payload]);
}

/** The error-channel message's payload for `protocol`: channel byte, then JSON Status or text. */
export function errorChannelPayload(protocol: string, status: KubeStatus): Buffer {
  const body = STATUS_JSON_PROTOCOLS.has(protocol) ? JSON.stringify(status) : status.message;
  return Buffer.concat([Buffer.from([ERROR_CHANNEL]), Buffer.from(body, 'utf8')]);
}

/**
 * The bytes that end a `protocol` session with a Failure Status (`code`: 403 Forbidden, 500
 * InternalError, ...): the error-channel message, then a 1000 close frame.
 */
export function channelFailureBytes(protocol: string, code: number, message: string): Buffer {
  const closePayload = Buffer.alloc(2);
  closePayload.writeUInt16BE(CLOSE_NORMAL, 0);
  return Buffer.concat([serverFrame(WebSocketOpcode.Binary, errorChannelPayload(protocol, kubeStatus(code, message))), serverFrame(WebSocketOpcode.Close, closePayload)]);
}
