/** Times as connect and share show them (src/cli/relative-time.ts): local and relative. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clockAndRelative, localClockTime, relativeDuration } from '../../../src/cli/relative-time.js';

const S = 1000;
const MIN = 60 * S;
const H = 60 * MIN;

describe('relativeDuration', () => {
  for (const [ms, text] of [
    [0, '0 s'],
    [-5 * S, '0 s'],
    [999, '0 s'],
    [45 * S, '45 s'],
    [59 * S + 999, '59 s'],
    [MIN, '1 min'],
    [59 * MIN + 59 * S, '59 min'],
    [H, '1 h'],
    [8 * H - 1, '7 h 59 min'],
    [8 * H, '8 h'],
    [24 * H, '1 d'],
    [2 * 24 * H + 3 * H + 5 * MIN, '2 d 3 h'],
  ] as const) {
    it(`${ms} ms is "${text}"`, () => assert.equal(relativeDuration(ms), text));
  }
});

describe('localClockTime and clockAndRelative', () => {
  const now = new Date(2026, 11, 6, 6, 33, 0);
  it('today: the local clock time only', () => assert.equal(localClockTime(new Date(2026, 11, 6, 14, 32, 10), now), '14:32'));
  it('another day: with the local date', () => assert.equal(localClockTime(new Date(2026, 11, 7, 0, 5), now), '2026-12-07 00:05'));
  it('"ends 14:32 (in 7 h 59 min)"', () => assert.equal(clockAndRelative(new Date(2026, 11, 6, 14, 32, 30), now), '14:32 (in 7 h 59 min)'));
  it('a time that has passed is "now"', () => assert.equal(clockAndRelative(new Date(2026, 11, 6, 6, 30), now), '06:30 (now)'));
});
