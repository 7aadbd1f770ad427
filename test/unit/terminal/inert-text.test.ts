/**
 * inertText (src/terminal/inert-text.ts): hostile strings a peer, the relay or a remote client
 * could send, each shown as visible text and never as a terminal effect.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { TERMINAL_FIELD_MAX_CHARS } from '../../../src/limits.js';
import { inertText } from '../../../src/terminal/inert-text.js';

/** Anything a terminal could act on: C0, DEL, C1, format characters, separators, lone surrogates, other spaces. */
const ACTIVE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}]|(?! )\p{Zs}/u;

function assertInert(id: string, shown: string): void {
  assert.doesNotMatch(shown, ACTIVE, `${id}: ${JSON.stringify(shown)} still holds an active character`);
  for (let i = 0; i < shown.length; i++) {
    const unit = shown.charCodeAt(i);
    const high = unit >= 0xd800 && unit <= 0xdbff;
    const low = unit >= 0xdc00 && unit <= 0xdfff;
    if (high) {
      const next = shown.charCodeAt(i + 1);
      assert.ok(next >= 0xdc00 && next <= 0xdfff, `${id}: lone high surrogate at ${i}`);
      i++;
    } else {
      assert.ok(!low, `${id}: lone low surrogate at ${i}`);
    }
  }
}

describe('Security: inertText makes hostile text visible and harmless', () => {
  const cases: ReadonlyArray<{ id: string; input: string; shown: string }> = [
    { id: 'OSC 0 window title (BEL-terminated)', input: 'get pods\u001b]0;pwned\u0007', shown: 'get pods\\x1b]0;pwned\\x07' },
    { id: 'OSC 2 window title (ST-terminated)', input: '\u001b]2;owned\u001b\\x', shown: '\\x1b]2;owned\\x1b\\\\x' },
    { id: 'OSC 52 clipboard write', input: '\u001b]52;c;Y3VybCBldmlsIHwgc2g=\u0007', shown: '\\x1b]52;c;Y3VybCBldmlsIHwgc2g=\\x07' },
    { id: 'CSI cursor up and erase line', input: 'x\u001b[1A\u001b[2K  policy:  readonly', shown: 'x\\x1b[1A\\x1b[2K  policy:  readonly' },
    { id: 'CSI clear screen', input: '\u001b[2J\u001b[H', shown: '\\x1b[2J\\x1b[H' },
    { id: 'DCS sequence', input: '\u001bP1$r0m\u001b\\', shown: '\\x1bP1$r0m\\x1b\\\\' },
    { id: 'carriage return overwrite', input: 'open\r  mode: readonly', shown: 'open\\x0d  mode: readonly' },
    { id: 'newline starts a fake line', input: 'a\n  policy:  readonly', shown: 'a\\x0a  policy:  readonly' },
    { id: 'backspaces erase what came before', input: 'open\b\b\b\breadonly', shown: 'open\\x08\\x08\\x08\\x08readonly' },
    { id: 'tab and vertical tab', input: 'a\tb\u000bc\u000cd', shown: 'a\\x09b\\x0bc\\x0cd' },
    { id: 'NUL and DEL', input: 'a\u0000b\u007fc', shown: 'a\\x00b\\x7fc' },
    { id: 'C1 CSI (0x9b)', input: '\u009b2J\u009b1;1H', shown: '\\x9b2J\\x9b1;1H' },
    { id: 'C1 OSC and ST (0x9d, 0x9c)', input: '\u009d0;title\u009c', shown: '\\x9d0;title\\x9c' },
    { id: 'C1 DCS and NEL (0x90, 0x85)', input: '\u0090x\u0085y', shown: '\\x90x\\x85y' },
    { id: 'bidi right-to-left override', input: 'get pods \u202eetaerc\u202c', shown: 'get pods \\u202eetaerc\\u202c' },
    { id: 'bidi embeddings and LRO', input: '\u202a\u202b\u202d', shown: '\\u202a\\u202b\\u202d' },
    { id: 'bidi isolates', input: '\u2066a\u2067b\u2068c\u2069', shown: '\\u2066a\\u2067b\\u2068c\\u2069' },
    { id: 'bidi marks', input: '\u200e\u200f\u061c', shown: '\\u200e\\u200f\\u061c' },
    { id: 'zero-width and BOM', input: 'read\u200bonly\u200c\u200d\u2060\ufeff', shown: 'read\\u200bonly\\u200c\\u200d\\u2060\\ufeff' },
    { id: 'soft hyphen', input: 'a\u00adb', shown: 'a\\xadb' },
    { id: 'Unicode line and paragraph separators', input: 'a\u2028b\u2029c', shown: 'a\\u2028b\\u2029c' },
    { id: 'non-ASCII spaces that pad', input: 'a\u00a0b\u3000c\u2003d', shown: 'a\\xa0b\\u3000c\\u2003d' },
    { id: 'invisible letters', input: '\u3164\u115f\u2800', shown: '\\u3164\\u115f\\u2800' },
    { id: 'tag characters', input: 'x\u{e0041}\u{e007f}', shown: 'x\\u{e0041}\\u{e007f}' },
    { id: 'private use', input: '\ue000', shown: '\\ue000' },
    { id: 'lone high surrogate', input: 'a\ud800b', shown: 'a\\ud800b' },
    { id: 'lone low surrogate', input: 'a\udc00', shown: 'a\\udc00' },
    { id: 'a backslash cannot forge an escape', input: 'ok\\x1b[2J', shown: 'ok\\\\x1b[2J' },
  ];

  for (const { id, input, shown } of cases) {
    it(`${id}`, () => {
      const result = inertText(input);
      assert.equal(result, shown, id);
      assertInert(id, result);
    });
  }

  it('keeps ordinary text as it is, other scripts and emoji included', () => {
    for (const text of ['kubepair-prod', 'get pods default/web-*', 'policy: open; 2 rules', 'Grüße aus Köln', '日本語のクラスター', 'ok 🚀', '2025-01-01T00:00:00.000Z']) {
      assert.equal(inertText(text), text, text);
    }
  });

  it('asciiOnly escapes everything outside printable ASCII', () => {
    assert.equal(inertText('get pods é🚀\u001b', { asciiOnly: true }), 'get pods \\xe9\\u{1f680}\\x1b');
  });

  it('bounds the output, escapes counted in full, and marks the cut', () => {
    const long = inertText('a'.repeat(10_000));
    assert.equal(long.length, TERMINAL_FIELD_MAX_CHARS);
    assert.ok(long.endsWith('…'));
    const escapes = inertText('\u001b'.repeat(10_000), { maxChars: 40 });
    assert.ok(escapes.length <= 40, `length ${escapes.length}`);
    assert.ok(escapes.endsWith('…'));
    assert.match(escapes, /^(\\x1b)+…$/, 'no escape is cut in half');
    assert.equal(inertText('abc', { maxChars: 3 }), 'abc');
    assert.equal(inertText('abcd', { maxChars: 3, asciiOnly: true }), '...');
  });

  it('never cuts a surrogate pair in half', () => {
    for (let maxChars = 2; maxChars < 12; maxChars++) {
      const shown = inertText('🚀'.repeat(20), { maxChars });
      assertInert(`maxChars ${maxChars}`, shown);
      assert.ok(shown.length <= maxChars, `maxChars ${maxChars}: ${shown.length}`);
    }
  });

  it('every code point of the BMP and of the astral planes\' edges comes out inert', () => {
    const failures: string[] = [];
    const probe = (codePoint: number): void => {
      const shown = inertText(`[${String.fromCodePoint(codePoint)}]`);
      if (ACTIVE.test(shown)) failures.push(codePoint.toString(16));
    };
    for (let codePoint = 0; codePoint <= 0xffff; codePoint++) probe(codePoint);
    for (const codePoint of [0x10000, 0x1f680, 0xe0001, 0xe0041, 0xe007f, 0xf0000, 0x10fffd, 0x10ffff]) probe(codePoint);
    assert.deepEqual(failures, []);
  });
});
