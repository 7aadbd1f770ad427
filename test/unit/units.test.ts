/**
 * src/units.ts: the one parser of durations, sizes and counts that people type (relay limits,
 * share --max-duration). Strict: a duration needs its unit, sizes take binary units only, no
 * fractions, signs or spaces inside; formatting gives back what was typed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DAY_MS, HOUR_MS, MAX_TIMER_MS, formatByteSize, formatDuration, parseByteSize, parseCount, parseDuration } from '../../src/units.js';

describe('units', () => {
  it('durations need a unit: ms, s, m, h, d', () => {
    const good: Array<[string, number]> = [['500ms', 500], ['30s', 30_000], ['2m', 120_000], ['8h', 8 * HOUR_MS], ['1d', DAY_MS], [' 45s ', 45_000], ['0s', 0]];
    for (const [text, ms] of good) assert.equal(parseDuration(text), ms, text);
    for (const bad of ['30', '1.5s', '-1s', '1 h', 's', '1w', '', '8H', '1e3ms', '0x10s', '12345678901s', '+1s']) {
      assert.equal(parseDuration(bad), undefined, JSON.stringify(bad));
    }
  });

  it('sizes are bytes or binary units (KiB, MiB, GiB), never decimal ones', () => {
    const good: Array<[string, number]> = [['1048576', 1048576], ['512KiB', 512 * 1024], ['16MiB', 16 * 1024 * 1024], ['1GiB', 1024 ** 3], ['7B', 7]];
    for (const [text, bytes] of good) assert.equal(parseByteSize(text), bytes, text);
    for (const bad of ['16MB', '1.5MiB', '-1', 'lots', '', '1 KiB', '1kib', '12345678901234']) assert.equal(parseByteSize(bad), undefined, JSON.stringify(bad));
  });

  it('counts are decimal integers of at most 10 digits', () => {
    assert.equal(parseCount('20'), 20);
    assert.equal(parseCount(' 7 '), 7);
    for (const bad of ['', '-1', '1.0', '1e3', '12345678901', 'ten']) assert.equal(parseCount(bad), undefined, JSON.stringify(bad));
  });

  it('formatting gives the largest whole unit, and parses back to the same value', () => {
    const durations: Array<[number, string]> = [[120_000, '120s'], [8 * HOUR_MS, '8h'], [DAY_MS, '1d'], [1500, '1500ms'], [0, '0ms']];
    for (const [ms, text] of durations) {
      assert.equal(formatDuration(ms), text, String(ms));
      assert.equal(parseDuration(text), ms, text);
    }
    const sizes: Array<[number, string]> = [[16 * 1024 * 1024, '16MiB'], [1024 ** 3, '1GiB'], [1536, '1536'], [2048, '2KiB']];
    for (const [bytes, text] of sizes) {
      assert.equal(formatByteSize(bytes), text, String(bytes));
      assert.equal(parseByteSize(text), bytes, text);
    }
  });

  it('the longest timer is what setTimeout can wait (2^31 - 1 ms)', () => {
    assert.equal(MAX_TIMER_MS, 2_147_483_647);
  });
});
