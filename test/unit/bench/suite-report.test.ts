/**
 * The side-by-side benchmark's own logic (issue 6): quantiles, goals and how far each is
 * missed, the options that make a run partial, and the hand-written SVG chart. The benchmark
 * itself is never run by the tests (no timing in tests); this checks what it computes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { quantile } from '../../../bench/lib/load.js';
import { UsageError, parseSuiteOptions } from '../../../bench/lib/suite-options.js';
import { GOALS, chartSpec, evaluateGoals, renderMarkdown } from '../../../bench/lib/suite-report.js';
import type { SuiteResults } from '../../../bench/lib/suite-report.js';
import { escapeXml, renderChart } from '../../../bench/lib/svg-chart.js';
import { measurement } from '../../../bench/workloads/workload.js';

function results(headline: Record<string, number | null>): SuiteResults {
  const bulk = measurement(
    { id: 'bulk_mbps', label: 'bulk <1 GiB> & more', unit: 'MB/s', better: 'higher', digits: 0 },
    new Map([
      ['direct', [2000, 2100, 1900, 2050, 1950]],
      ['kubepair', [600, 650, 700, 640, 660]],
      ['ssh', [690, 700, 680, 710, 695]],
    ]),
  );
  return {
    schema: 'kubepair-bench/1',
    date: '2026-11-22T00:00:00.000Z',
    machine: { cpu: 'Test CPU', cores: 2, node: 'v20', os: 'linux', ssh: 'OpenSSH_9.2p1', kubectl: 'v1.32.4' },
    runs: 5,
    partial: false,
    duration_s: 600,
    load_average: { start: [1, 2, 3], end: [1, 1, 1], per_workload: { bulk: 1.5 } },
    headline,
    goals: evaluateGoals(headline),
    measurements: [bulk],
    skipped: [{ what: 'OpenSSH comparison', why: 'not installed: sshd' }],
    notes: [],
  };
}

describe('benchmark statistics and goals', () => {
  it('quantile uses the nearest rank: p50 and p99 of 1..100 are 50 and 99', () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i);
    assert.equal(quantile(samples, 0.5), 50);
    assert.equal(quantile(samples, 0.99), 99);
    assert.equal(quantile([7], 0.99), 7, 'one sample');
    assert.throws(() => quantile([], 0.5), /no samples/);
  });

  it('each goal is met, missed, or not measured (null), in the direction it states', () => {
    const goals = evaluateGoals({ bulk_ratio_vs_ssh: 0.8, latency_added_p50_ms: 0.2, latency_added_p99_ms: null, hol_kept_fraction: 0.95, pairing_ms: 120, relay_kib_per_idle_session: 20 });
    const byKey = new Map(goals.map((goal) => [goal.key, goal]));
    assert.equal(goals.length, GOALS.length);
    assert.equal(byKey.get('bulk_ratio_vs_ssh')?.met, false, '0.8 < 1.0');
    assert.equal(byKey.get('latency_added_p50_ms')?.met, true, '0.2 <= 0.3');
    assert.equal(byKey.get('latency_added_p99_ms')?.met, null, 'not measured');
    assert.equal(byKey.get('hol_kept_fraction')?.met, true);
    assert.equal(byKey.get('pairing_ms')?.met, false, '120 > 50');
    assert.equal(byKey.get('relay_kib_per_idle_session')?.met, true);
  });

  it('the report says by how much a goal is missed and what was skipped', () => {
    const text = renderMarkdown(results({ bulk_ratio_vs_ssh: 0.8, pairing_ms: 120 }), 'chart.svg');
    assert.match(text, /\| bulk throughput vs `ssh -L` \(aes256-gcm\) \| >= 1 × \| \*\*missed\*\* by 0\.20 × \(20% short\) \|/);
    assert.match(text, /\| pairing: `connect` start to first byte \| <= 50 ms \| \*\*missed\*\* by 70\.0 ms \(2\.4× the target\) \|/);
    assert.match(text, /Skipped: OpenSSH comparison \(not installed: sshd\)\./);
    assert.match(text, /\| 2,000 \(1,900–2,100\) \| 650 \(600–700\) \| 695 \(680–710\) \| 0\.33× \| 0\.94× \|/, 'median (min–max) cells and ratios');
  });
});

describe('benchmark options', () => {
  it('defaults run everything 5 times and publish; --only or fewer runs make a partial run that does not write', () => {
    const all = parseSuiteOptions([]);
    assert.ok(all !== 'help');
    assert.equal(all.runs, 5);
    assert.equal(all.write, true);
    const quick = parseSuiteOptions(['--only', 'bulk,latency', '--runs', '1']);
    assert.ok(quick !== 'help');
    assert.deepEqual(quick.workloads, ['bulk', 'latency']);
    assert.equal(quick.partial, true);
    assert.equal(quick.write, false);
    const forced = parseSuiteOptions(['--runs', '2', '--write']);
    assert.ok(forced !== 'help' && forced.write);
  });

  it('bad options are refused with the reason', () => {
    assert.throws(() => parseSuiteOptions(['--only', 'bulk,nope']), (err: unknown) => err instanceof UsageError && /unknown workload nope/.test(err.message));
    assert.throws(() => parseSuiteOptions(['--runs', '0']), (err: unknown) => err instanceof UsageError && /--runs needs a whole number/.test(err.message));
    assert.throws(() => parseSuiteOptions(['--runs']), (err: unknown) => err instanceof UsageError && /--runs needs a value/.test(err.message));
    assert.throws(() => parseSuiteOptions(['--fast']), (err: unknown) => err instanceof UsageError && /unknown option --fast/.test(err.message));
  });
});

describe('benchmark chart', () => {
  it('is one self-contained SVG with a bar per path and every text escaped', () => {
    const svg = renderChart(chartSpec(results({})));
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.equal((svg.match(/<rect x=/g) ?? []).length, 3, 'three bars: direct, kubepair, OpenSSH');
    assert.ok(svg.includes('bulk &lt;1 GiB&gt; &amp; more'), 'label escaped');
    assert.ok(!/<script|href=/i.test(svg), 'no script, no external reference');
    assert.equal(escapeXml(`<a href="x">'&'</a>`), '&lt;a href=&quot;x&quot;&gt;&apos;&amp;&apos;&lt;/a&gt;');
  });
});
