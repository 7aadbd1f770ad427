/**
 * The differential security suite of issue 10, parameterised by the stack it attacks. For each
 * attack: send it, then check the invariant — every request the API server executed matches
 * exactly one allowed audit record (method, path, query, identity) — and that nothing changed
 * and nothing secret came back. Then a bounded random-mutation run of the same attacks and the
 * same invariant. Imported by the *.test.ts files of this directory, one per stack variant.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { SmugglingStack, SmugglingStackOptions } from './smuggling-stack.js';
import { OBJECTS, SECRET_VALUE, startSmugglingStack, unaccounted } from './smuggling-stack.js';
import { ATTACKS } from './smuggling-attacks.js';

/** Mutated attacks per stack in the random run, and how many are in flight at once. */
const MUTATIONS = 96;
const MUTATION_CONCURRENCY = 8;
/** How long the invariant may take to hold once an attack's connections closed (records of requests that just ended). */
const SETTLE_MS = 3_000;

async function assertInvariant(smuggling: SmugglingStack, mark: { fixture: number; audit: number }, what: string): Promise<void> {
  let missing: string[] = [];
  const deadline = Date.now() + SETTLE_MS;
  for (let attempt = 0; attempt < SETTLE_MS / 50 + 1; attempt++) {
    missing = unaccounted(smuggling.executedSince(mark.fixture), await smuggling.allowedSince(mark.audit));
    if (missing.length === 0 || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.deepEqual(missing, [], `${what}: the API server executed requests no allowed audit record accounts for`);
}

/** Put back what an attack that got through would have changed, so each attack is judged on its own. */
function restoreState(smuggling: SmugglingStack): void {
  const api = smuggling.stack.api;
  try {
    api.getObject('v1', 'Pod', 'default', 'web-0');
  } catch {
    api.createObject(OBJECTS[0]!);
  }
  try {
    api.deleteObject('v1', 'ConfigMap', 'default', 'smuggled');
  } catch {
    // not there: nothing to undo
  }
}

function assertNothingChanged(smuggling: SmugglingStack, what: string): void {
  const api = smuggling.stack.api;
  assert.doesNotThrow(() => api.getObject('v1', 'Pod', 'default', 'web-0'), `${what}: the pod is still there`);
  assert.throws(() => api.getObject('v1', 'ConfigMap', 'default', 'smuggled'), `${what}: nothing was created`);
  assert.deepEqual(api.getObject('v1', 'ConfigMap', 'default', 'settings').data, { mode: 'prod' }, `${what}: nothing was changed`);
}

function assertNothingLeaked(smuggling: SmugglingStack, options: SmugglingStackOptions, received: Buffer, what: string): void {
  const text = received.toString('latin1');
  assert.ok(!text.includes(smuggling.stack.api.token), `${what}: the agent's credentials never come back`);
  if (options.policy === 'readonly') {
    assert.ok(!text.includes(SECRET_VALUE) && !text.includes(Buffer.from(SECRET_VALUE).toString('base64')), `${what}: the Secret never comes back under readonly`);
  }
}

export function requestSmugglingSuite(options: SmugglingStackOptions): void {
  const name = `Security: request smuggling through the agent (policy ${options.policy}, agent ${options.credentials}, API server ${options.http2 ? 'h2 + HTTP/1.1' : 'HTTP/1.1 only'})`;
  describe(name, { timeout: 240_000 }, () => {
    let smuggling: SmugglingStack;
    before(async () => {
      smuggling = await startSmugglingStack(options);
    });
    after(() => smuggling.close());

    it('an ordinary allowed read works and is accounted for (the suite can see a request)', async () => {
      const mark = smuggling.mark();
      const received = await smuggling.send(`GET /api/v1/namespaces/default/configmaps HTTP/1.1\r\n${smuggling.auth}\r\n`);
      assert.match(received.toString('latin1'), /^HTTP\/1\.1 200 OK\r\n/);
      assert.equal(smuggling.executedSince(mark.fixture).length, 1);
      await assertInvariant(smuggling, mark, 'an ordinary read');
    });

    for (const attack of ATTACKS) {
      it(attack.id, async () => {
        restoreState(smuggling);
        const mark = smuggling.mark();
        const received = [await smuggling.send(attack.bytes(smuggling.auth))];
        if (attack.trigger === true) {
          received.push(await smuggling.send(`GET /api/v1/namespaces/default/configmaps HTTP/1.1\r\n${smuggling.auth}\r\n`));
        }
        await assertInvariant(smuggling, mark, attack.id);
        assertNothingChanged(smuggling, attack.id);
        for (const bytes of received) assertNothingLeaked(smuggling, options, bytes, attack.id);
      });
    }

    it(`${MUTATIONS} randomly mutated attacks keep the invariant`, async () => {
      restoreState(smuggling);
      const mark = smuggling.mark();
      const tokens = ['\r\n', '\n', '\r', ' ', '\t', ',', ';', '0', 'chunked', 'Transfer-Encoding: chunked\r\n', 'Content-Length: 7\r\n', 'Connection: Upgrade\r\nUpgrade: websocket\r\n', 'HTTP/1.0', '\x00', '\xff'];
      const cases = Array.from({ length: MUTATIONS }, (_, i) => {
        const seed = Buffer.from(ATTACKS[i % ATTACKS.length]!.bytes(smuggling.auth), 'latin1');
        const random = randomBytes(8);
        // Mutate after the request line and the token, so the mutation reaches the agent.
        const floor = seed.indexOf('\r\n\r\n') > 0 ? Math.min(seed.indexOf('Authorization') + 60, seed.length - 1) : 0;
        const at = floor + (random.readUInt16BE(0) % Math.max(1, seed.length - floor));
        const cut = random[2]! % 6;
        const insert = Buffer.from(tokens[random[3]! % tokens.length]!, 'latin1');
        return { bytes: Buffer.concat([seed.subarray(0, at), insert, seed.subarray(at + cut)]), pieces: 1 + (random[4]! % 4) };
      });
      const received: Buffer[] = [];
      for (let start = 0; start < cases.length; start += MUTATION_CONCURRENCY) {
        const batch = cases.slice(start, start + MUTATION_CONCURRENCY);
        received.push(...(await Promise.all(batch.map((c) => smuggling.send(c.bytes, { settleMs: 250, firstByteMs: 2_000, pieces: c.pieces })))));
      }
      const afterwards = await smuggling.send(`GET /api/v1/namespaces/default/configmaps HTTP/1.1\r\n${smuggling.auth}\r\n`);
      assert.match(afterwards.toString('latin1'), /^HTTP\/1\.1 200 OK\r\n/, 'the tunnel and the agent survived the run');
      received.push(afterwards);
      await assertInvariant(smuggling, mark, 'the random run');
      assertNothingChanged(smuggling, 'the random run');
      received.forEach((bytes, i) => assertNothingLeaked(smuggling, options, bytes, `mutation ${i}`));
    });
  });
}
