/** Star-only globs: exact semantics on a table, and no catastrophic backtracking. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compileGlob, globMatches } from '../../../../src/agent/policy/glob.js';
import { POLICY_REQUEST_TARGET_MAX_CHARS, POLICY_RULE_MAX_CHARS } from '../../../../src/limits.js';

const CASES: ReadonlyArray<readonly [id: string, pattern: string, text: string, want: boolean]> = [
  ['literal-equal', 'pods', 'pods', true],
  ['literal-prefix-only', 'pods', 'podsx', false],
  ['literal-empty', '', '', true],
  ['literal-empty-vs-text', '', 'a', false],
  ['star-all', '*', 'anything at all', true],
  ['star-empty', '*', '', true],
  ['double-star-collapses', '**', '', true],
  ['prefix', 'kube-*', 'kube-system', true],
  ['prefix-exact', 'kube-*', 'kube-', true],
  ['prefix-miss', 'kube-*', 'kub', false],
  ['suffix', '*-prod', 'team-a-prod', true],
  ['suffix-miss', '*-prod', 'team-a-prod2', false],
  ['infix', 'a*b*c', 'aXXbYYc', true],
  ['infix-order', 'a*c*b', 'abc', false],
  ['head-tail-overlap', 'ab*ba', 'aba', false],
  ['head-tail-touch', 'ab*ba', 'abba', true],
  ['middle-must-fit-before-tail', '*ab*b', 'ab', false],
  ['middle-repeated', '*a*a*', 'a', false],
  ['middle-repeated-ok', '*a*a*', 'aa', true],
  ['kmp-border', '*abab*', 'abaabab', true],
  ['kmp-border-miss', '*abac*', 'ababab', false],
  ['no-regex-dot', 'a.c', 'abc', false],
  ['no-question-mark', 'a?c', 'abc', false],
  ['regex-chars-literal', '[a]+(b)', '[a]+(b)', true],
  ['colon-names', 'system:*', 'system:masters', true],
];

describe('glob', () => {
  for (const [id, pattern, text, want] of CASES) {
    it(`${id}: ${JSON.stringify(pattern)} vs ${JSON.stringify(text)} is ${want}`, () => {
      assert.equal(globMatches(compileGlob(pattern), text), want, id);
    });
  }

  it('pathological: *a*a*a*a*a*a*a*b against the longest text completes with the right answer', () => {
    // A backtracking matcher takes time exponential in the number of stars here; this one is
    // linear. Sizes are the largest the policy ever feeds it (bounded inputs, no timing).
    const pattern = compileGlob('*a*a*a*a*a*a*a*b');
    const text = 'a'.repeat(POLICY_REQUEST_TARGET_MAX_CHARS);
    assert.equal(globMatches(pattern, text), false, 'pathological-miss');
    assert.equal(globMatches(pattern, `${text}b`), true, 'pathological-hit');
  });

  it('pathological: a rule-length pattern of many stars against a long text', () => {
    const stars = '*a'.repeat(Math.floor(POLICY_RULE_MAX_CHARS / 2) - 1) + '*b';
    const pattern = compileGlob(stars);
    assert.equal(globMatches(pattern, 'a'.repeat(POLICY_REQUEST_TARGET_MAX_CHARS)), false, 'many-stars-miss');
    assert.equal(globMatches(pattern, 'a'.repeat(POLICY_REQUEST_TARGET_MAX_CHARS) + 'b'), true, 'many-stars-hit');
  });

  it('pathological: a long literal piece with a repeated border (KMP worst case for naive search)', () => {
    const pattern = compileGlob(`*${'a'.repeat(200)}b*`);
    assert.equal(globMatches(pattern, 'a'.repeat(POLICY_REQUEST_TARGET_MAX_CHARS)), false, 'border-miss');
    assert.equal(globMatches(pattern, `${'a'.repeat(POLICY_REQUEST_TARGET_MAX_CHARS)}bc`), true, 'border-hit');
  });
});
