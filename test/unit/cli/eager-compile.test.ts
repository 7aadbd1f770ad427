/**
 * compiledEagerly (src/cli/eager-compile.ts): V8 compiles every function while connect's entry
 * module loads, and lazily again once the module calls AFTER_COMPILE or the load settles. What
 * V8 compiled is read off a code cache made right after compiling a script: with lazy
 * compilation its inner functions are left out of it, without they are in it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Script } from 'node:vm';
import { AFTER_COMPILE, compiledEagerly } from '../../../src/cli/eager-compile.js';

/** A script whose functions V8 compiles only when they run (unless lazy compilation is off). */
const SOURCE = Array.from({ length: 40 }, (_, i) => `function f${i}(a, b) { const list = [a, b, ${i}]; return list.map((x) => x * ${i + 1}).filter(Boolean).join('-') + String(a) + String(b); }`).join('\n');

/** Bytes of the code cache V8 makes right after compiling a fresh copy of SOURCE. */
let copies = 0;
function cachedBytes(): number {
  copies += 1;
  return new Script(`${SOURCE}\n// copy ${copies}`).createCachedData().length;
}

describe('compiledEagerly', () => {
  it('compiles every function during the load, lazily again after it, and after AFTER_COMPILE is called', async () => {
    const lazy = cachedBytes();
    const during = await compiledEagerly(() => Promise.resolve(cachedBytes()));
    assert.ok(during > 2 * lazy, `code cache ${during} bytes while loading, ${lazy} outside`);
    assert.ok(cachedBytes() < during / 2, 'lazy again after the load');
    const afterHook = await compiledEagerly(() => {
      (globalThis as Record<symbol, (() => void) | undefined>)[Symbol.for(AFTER_COMPILE)]!();
      return Promise.resolve(cachedBytes());
    });
    assert.ok(afterHook < during / 2, `lazy again once the module says it is compiled (${afterHook} bytes)`);
    assert.equal((globalThis as Record<symbol, unknown>)[Symbol.for(AFTER_COMPILE)], undefined, 'the hook is gone after the load');
  });

  it('a load that fails still leaves V8 compiling lazily, and the failure is the caller\'s', async () => {
    const lazy = cachedBytes();
    await assert.rejects(
      compiledEagerly(() => Promise.reject(new Error('no such module'))),
      /no such module/,
    );
    assert.ok(cachedBytes() < 2 * lazy, 'lazy again after a failed load');
  });
});
