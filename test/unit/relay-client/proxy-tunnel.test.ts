/** What a refused CONNECT tells the user (src/relay-client/proxy-tunnel.ts proxyRefusal). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { proxyRefusal } from '../../../src/relay-client/proxy-tunnel.js';

describe('proxyRefusal', () => {
  const bare = { label: 'http://proxy.corp:3128' };
  const withCredentials = { label: 'http://proxy.corp:3128', authorization: 'Basic YWxpY2U6cHc=' };
  const target = 'relay.example.com:443';
  const cases: Array<[string, typeof bare, number, string, RegExp]> = [
    ['407 without credentials', bare, 407, 'Proxy Authentication Required', /answered 407 Proxy Authentication Required: it wants credentials: put them in HTTPS_PROXY as http:\/\/USER:PASSWORD@HOST:PORT$/],
    ['407 with credentials', withCredentials, 407, 'Proxy Authentication Required', /answered 407 .*: it did not accept the credentials in HTTPS_PROXY$/],
    ['401 with credentials', withCredentials, 401, 'Unauthorized', /answered 401 Unauthorized: it did not accept the credentials/],
    ['403', bare, 403, 'Forbidden', /answered 403 Forbidden: its policy does not allow relay\.example\.com:443; .*NO_PROXY/],
    ['502', bare, 502, 'Bad Gateway', /answered 502 Bad Gateway: it could not reach relay\.example\.com:443$/],
    ['500', bare, 500, 'Unable to connect', /answered 500 Unable to connect: it could not reach/],
    ['405', bare, 405, 'Method Not Allowed', /answered 405 Method Not Allowed: CONNECT relay\.example\.com:443 was not accepted$/],
    ['hostile status text', bare, 403, 'x\u001b[31m\r\nSet-Cookie: y'.padEnd(200, 'z'), /answered 403 x\?\[31m\?\?Set-Cookie: yz+\.\.\.: its policy/],
  ];
  for (const [name, proxy, status, text, expected] of cases) {
    it(`${name}: KP_ERR_PROXY_REFUSED naming the proxy without credentials`, () => {
      const err = proxyRefusal(proxy, target, { statusCode: status, statusText: text });
      assert.equal(err.code, 'KP_ERR_PROXY_REFUSED');
      assert.match(err.message, /^the HTTPS proxy refused to open a tunnel to the relay: http:\/\/proxy\.corp:3128 answered /);
      assert.match(err.message, expected);
      assert.ok(!err.message.includes('YWxpY2U6cHc='), 'no credentials');
    });
  }
});
