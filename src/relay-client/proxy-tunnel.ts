/**
 * The HTTP agent that tunnels one relay connection (an API request or the WebSocket) through an
 * HTTPS proxy with HTTP CONNECT (issue 4), built on `https-proxy-agent`, which both
 * `https.request` and `ws` accept as `agent`. What this module adds to the library:
 *
 * - a refused CONNECT (407, 403, 5xx...) is an error naming the proxy (`label`, never its
 *   credentials) and what to do, instead of the proxy's answer being handed to the caller as
 *   if the relay had sent it (the library replays a non-200 CONNECT answer as the response);
 * - the CONNECT is bounded in time (RELAY_PROXY_CONNECT_TIMEOUT_MS): before a socket exists
 *   neither Node's request timeout nor ws's handshake timeout runs;
 * - the tunnel is always upgraded to TLS: proxies are used for https:// and wss:// relays only;
 * - the relay's certificate is checked against the relay's own host name or IP address. The
 *   library drops `host` from the TLS options and sets `servername` only for names, so for a
 *   relay at an IP address Node would check the certificate against "localhost" (which fails
 *   closed, but refuses a correct certificate for 127.0.0.1 or 10.1.2.3).
 *
 * The relay's certificate is checked inside the tunnel with the endpoint's `ca` (a private relay
 * CA, or the CA of a TLS-intercepting proxy from --proxy-ca), exactly as without a proxy.
 * Credentials go in the `Proxy-Authorization` header; the URL given to the library has none,
 * so its debug output (DEBUG=https-proxy-agent) cannot show them.
 *
 * Untrusted input: the proxy's answer to CONNECT (its status text is reduced to printable ASCII).
 */
import type { ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import { checkServerIdentity } from 'node:tls';
import type { PeerCertificate } from 'node:tls';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { KubepairError } from '../errors/index.js';
import { RELAY_PROXY_CONNECT_TIMEOUT_MS } from '../limits.js';
import type { RelayProxy } from './proxy-settings.js';
import { sanitizeRelayText } from './relay-error-mapping.js';

/** What https-proxy-agent passes to `connect()` (agent-base's AgentConnectOpts, reduced to our use). */
type ConnectOptions = Parameters<HttpsProxyAgent<string>['connect']>[1];

/** The CONNECT answer https-proxy-agent reports with the `proxyConnect` event. */
interface ProxyConnectAnswer {
  readonly statusCode: number;
  readonly statusText: string;
}

/** The error for a proxy that answered CONNECT `target` with a status other than 200. */
export function proxyRefusal(proxy: RelayProxy, target: string, answer: ProxyConnectAnswer): KubepairError {
  const status = `${answer.statusCode} ${sanitizeRelayText(answer.statusText, 60)}`.trim();
  const advice =
    // 407 is the standard answer; some proxies (tinyproxy) say 401 to wrong credentials.
    answer.statusCode === 407 || answer.statusCode === 401
      ? proxy.authorization === undefined
        ? 'it wants credentials: put them in HTTPS_PROXY as http://USER:PASSWORD@HOST:PORT'
        : 'it did not accept the credentials in HTTPS_PROXY'
      : answer.statusCode === 403
        ? `its policy does not allow ${target}; ask its administrators, or list the relay in NO_PROXY if it is reachable directly`
        : answer.statusCode >= 500
          ? `it could not reach ${target}`
          : `CONNECT ${target} was not accepted`;
  return new KubepairError('KP_ERR_PROXY_REFUSED', `${proxy.label} answered ${status}: ${advice}`);
}

/** An agent for exactly one tunnelled connection to a TLS relay; see the file header. */
export class RelayProxyAgent extends HttpsProxyAgent<string> {
  readonly relayProxy: RelayProxy;
  readonly #timeoutMs: number;

  constructor(proxy: RelayProxy, timeoutMs = RELAY_PROXY_CONNECT_TIMEOUT_MS) {
    super(proxy.label, proxy.authorization === undefined ? {} : { headers: { 'Proxy-Authorization': proxy.authorization } });
    this.relayProxy = proxy;
    this.#timeoutMs = timeoutMs;
  }

  /** Every connection through this agent is TLS to the relay (ws does not always say so). */
  override isSecureEndpoint(): boolean {
    return true;
  }

  override async connect(req: ClientRequest, options: ConnectOptions): Promise<Socket> {
    const host = options.host ?? '';
    const target = `${host}:${options.port}`;
    let answer: ProxyConnectAnswer | undefined;
    const onAnswer = (connect: ProxyConnectAnswer): void => {
      answer = connect;
    };
    req.once('proxyConnect', onAnswer);
    // The library opens the proxy socket synchronously from `connectOpts`; a signal there lets
    // the deadline destroy a socket whose proxy never answers. It fires only before the answer.
    const deadline = new AbortController();
    this.connectOpts = { ...this.connectOpts, signal: deadline.signal };
    const timer = setTimeout(() => deadline.abort(), this.#timeoutMs);
    let socket: Socket;
    try {
      socket = await super.connect(req, {
        ...options,
        secureEndpoint: true,
        checkServerIdentity: (_name: string, cert: PeerCertificate) => checkServerIdentity(host, cert),
      });
    } catch (err) {
      if (deadline.signal.aborted) {
        throw new KubepairError('KP_ERR_PROXY_UNREACHABLE', `${this.relayProxy.label} did not answer CONNECT ${target} within ${this.#timeoutMs} ms`, { cause: err });
      }
      const reason = err instanceof Error ? err.message : 'connection failed';
      throw new KubepairError('KP_ERR_PROXY_UNREACHABLE', `${this.relayProxy.label}: ${sanitizeRelayText(reason)}`, { cause: err });
    } finally {
      clearTimeout(timer);
      req.off('proxyConnect', onAnswer);
    }
    if (answer === undefined || answer.statusCode !== 200) {
      socket.destroy();
      throw proxyRefusal(this.relayProxy, target, answer ?? { statusCode: 0, statusText: 'no answer' });
    }
    return socket;
  }
}
