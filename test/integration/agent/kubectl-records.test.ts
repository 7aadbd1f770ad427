/**
 * Records per kubectl request through proxy mode (docs/performance.md "kubectl, fifth look"):
 * kubectl's five requests (`GET /version`, four Table pages of 500 ConfigMaps) made by a Node
 * HTTPS client on one keep-alive connection through the in-process tunnel (the real KubeProxy,
 * MUX, channels and LocalListener), every record each side seals counted with the HTTP/2
 * frames inside it. The agent's answer to a request — its response head and its body — leaves
 * in one record, not the head in one and the body in the next; and a connection's first
 * request leaves with its stream's CONNECT, in one record (docs/performance.md "kubectl, sixth
 * look").
 */
import assert from 'node:assert/strict';
import { Agent, request } from 'node:https';
import { describe, it } from 'node:test';
import { MemoryTransport } from '../../../src/channel/index.js';
import { startKubeApiServer } from '../../fixtures/kube-api-server/server.js';
import { startInProcessTunnel } from '../../helpers/in-process-tunnel.js';
import type { InProcessTunnel } from '../../helpers/in-process-tunnel.js';
import { carrying, describeRecord, watchTransports } from '../../helpers/record-census.js';
import { within } from '../../helpers/wait-until.js';

const OBJECTS = 2000;
const PAGE = 500;
/** kubectl runs: each a new TLS connection to the listener, so a new tunnel stream. */
const RUNS = 4;
const REQUEST_TIMEOUT_MS = 10_000;
const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';

interface Answer {
  readonly status: number;
  readonly body: Buffer;
}

function get(tunnel: InProcessTunnel, agent: Agent, path: string, accept: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port: tunnel.listenerPort, path, agent, ca: tunnel.caPem, headers: { authorization: `Bearer ${tunnel.token}`, accept } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('records per kubectl request', () => {
  it("the agent's response head and its body cross the channel in one record", async () => {
    const transports = MemoryTransport.pair({ highWaterMark: 4 * 1024 * 1024 });
    const watch = watchTransports(transports);
    const api = await startKubeApiServer({ seedConfigMaps: { count: OBJECTS } });
    const tunnel = await startInProcessTunnel({ api, transports });
    watch.attach(tunnel.channels);
    const { census } = watch;
    const seen: string[] = [];
    let requests = 0;
    let answers = 0;
    try {
      census.start();
      for (let run = 0; run < RUNS; run++) {
        const agent = new Agent({ keepAlive: true, maxSockets: 1 });
        try {
          census.reset();
          const version = await within(REQUEST_TIMEOUT_MS, 'GET /version', get(tunnel, agent, '/version', 'application/json, */*'));
          assert.equal(version.status, 200);
          requests += 1;
          // The run's first request opens its stream: the CONNECT and the request leave in one
          // record, not the CONNECT alone and the request after the agent's 200.
          const opens = census.records.client.filter((record) => record.frames.some((frame) => frame.type === 'HEADERS'));
          const described = census.records.client.map(describeRecord).join(' | ');
          assert.equal(opens.length, 1, `one CONNECT: ${described}`);
          assert.ok(
            opens[0]!.frames.some((frame) => frame.type === 'DATA' && frame.length > 0),
            `the CONNECT and the first request in one record: ${described}`,
          );
          assert.equal(carrying(census.records.client).length, 1, `the client sent the CONNECT and /version in one record: ${described}`);
          answers += carrying(census.records.agent).length;
          seen.push(`/version: ${census.records.agent.map(describeRecord).join(' | ')}`);
          let token: string | undefined;
          for (let page = 0; page < OBJECTS / PAGE; page++) {
            census.reset();
            const query = `limit=${PAGE}${token === undefined ? '' : `&continue=${encodeURIComponent(token)}`}`;
            const answer = await within(REQUEST_TIMEOUT_MS, `page ${page}`, get(tunnel, agent, `/api/v1/namespaces/default/configmaps?${query}`, TABLE_ACCEPT));
            assert.equal(answer.status, 200);
            requests += 1;
            // One request, one record from the client (docs/performance.md "Added latency, sixth pass").
            assert.equal(carrying(census.records.client).length, 1, `the client sent page ${page}'s request in one record`);
            answers += carrying(census.records.agent).length;
            seen.push(`page ${page}: ${census.records.agent.map(describeRecord).join(' | ')}`);
            token = (JSON.parse(answer.body.toString()) as { metadata: { continue?: string } }).metadata.continue;
          }
          assert.equal(token, undefined, 'four pages hold every ConfigMap');
        } finally {
          agent.destroy();
        }
      }
      // Each answer's head and body arrive from the API server within one event-loop iteration
      // here (it is in this process); one straggling piece on a loaded machine is allowed for.
      assert.ok(answers >= requests && answers <= requests + requests / 10, `${answers} records carried the agent's ${requests} answers:\n${seen.join('\n')}`);
    } finally {
      await tunnel.close();
      await api.close();
    }
  });
});
