/**
 * The TCP data path in one process, for mux tests: a plain local listener → splice → MuxClient →
 * SecureChannel ⇄ SecureChannel → MuxServer → a TCP target that echoes (echo-storm.ts's
 * server). The relay is an in-memory transport pair (or the one the test hands in, to watch it).
 */
import { LocalListener } from '../../src/client/local-listener.js';
import { tcpTargetHandler } from '../../src/agent/tcp-targets.js';
import type { SecureChannel } from '../../src/channel/index.js';
import type { MessageTransport } from '../../src/channel/transport.js';
import { MuxClient, MuxServer } from '../../src/mux/index.js';
import { pairedChannels } from './channel-pair.js';
import { startEchoServer } from './echo-storm.js';

export interface EchoTunnel {
  /** The local listener's port on 127.0.0.1: a connection to it is echoed through the tunnel. */
  readonly port: number;
  /** The two ends of the secure channel (for tests that watch what crosses it). */
  readonly channels: { readonly agent: SecureChannel; readonly client: SecureChannel };
  /** Close the listener, both mux ends, both channels and the echo server. */
  close(): Promise<void>;
}

export async function startEchoTunnel(transports?: [MessageTransport, MessageTransport]): Promise<EchoTunnel> {
  const echo = await startEchoServer();
  const { agent, client } = await pairedChannels({}, transports);
  const server = new MuxServer(agent, { targets: new Map([['echo', tcpTargetHandler({ name: 'echo', host: '127.0.0.1', port: echo.port })]]) });
  const mux = new MuxClient(client);
  const listener = new LocalListener({ security: { kind: 'plain' }, target: 'echo', beginStream: (target) => Promise.resolve(mux.beginStream(target)) });
  const port = await listener.listen();
  return {
    port,
    channels: { agent, client },
    async close() {
      await listener.close();
      mux.close();
      server.close();
      agent.close();
      client.close();
      await echo.close();
    },
  };
}
