/**
 * The side-by-side benchmark's own logic (issue 6): quantiles, goals and how far each is
 * missed, the options that make a run partial, the hand-written SVG chart, and (issue 13) a
 * workload's own section and a partial run merged into the published results. The benchmark
 * itself is never run by the tests (no timing in tests); this checks what it computes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { quantile } from '../../../bench/lib/load.js';
import { UsageError, parseSuiteOptions } from '../../../bench/lib/suite-options.js';
import { GOALS, chartSpec, evaluateGoals, mergePublished, renderMarkdown, renderSection } from '../../../bench/lib/suite-report.js';
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

describe('a workload with its own section, and partial runs published', () => {
  const sessions = measurement(
    { id: 'cluster_sessions_per_s', label: 'sessions per second', unit: 'sessions/s', better: 'higher', digits: 1 },
    new Map([
      ['three', [70, 90, 80]],
      ['memory', [4]],
      ['one', [50, 60, 55]],
    ]),
  );
  const cpu = measurement({ id: 'cluster_cpu', label: 'CPU per session', unit: 'CPU ms', better: 'lower', digits: 1 }, new Map([['one', [5]], ['three', [9]]]));
  const splice = measurement({ id: 'cluster_splice_mbps', label: 'splice throughput', unit: 'MB/s', better: 'higher', digits: 0 }, new Map([['local', [40]], ['remote', [20]]]));

  it('puts measurements that share a path in one table, columns in the labels\' order, with the paths\' labels', () => {
    const text = renderSection(results({}), 'cluster', [sessions, cpu, splice], ['how it was measured'], { one: 'one node', three: 'three nodes', memory: 'memory store' });
    const tables = text.split('\n\n').filter((block) => block.startsWith('| measurement'));
    assert.equal(tables.length, 2, 'sessions and CPU share a table; the splice has its own');
    assert.match(tables[0]!, /^\| measurement \| unit \| one node \| three nodes \| memory store \|/, 'the union of the paths, in the order of the labels');
    assert.match(tables[0]!, /\| sessions per second \| sessions\/s ↑ \| 55\.0 \(50\.0–60\.0\) \| 80\.0 \(70\.0–90\.0\) \| 4\.0 \(4\.0–4\.0\) \|/);
    assert.match(tables[0]!, /\| CPU per session \| CPU ms ↓ \| 5\.0 \(5\.0–5\.0\) \| 9\.0 \(9\.0–9\.0\) \| {2}\|/, 'a path a measurement lacks: an empty cell');
    assert.match(tables[1]!, /^\| measurement \| unit \| local \| remote \|/, 'a path without a label keeps its name');
    assert.match(text, /\* how it was measured/);
  });

  it('merges a partial run into the last full results: new and replaced numbers, the rest kept, the update recorded', () => {
    const full = results({ bulk_ratio_vs_ssh: 0.8, relay_kib_per_idle_session: 40 });
    const previous = { ...full.headline, ...full };
    const partial = { ...results({ relay_kib_per_idle_session: 30, cluster_sessions_per_s_3nodes: 80 }), date: '2026-12-06T20:00:00.000Z', partial: true, measurements: [sessions], notes: ['partial note'] };
    const merged = mergePublished(previous as Record<string, unknown>, partial, ['cluster']);
    assert.equal(merged['bulk_ratio_vs_ssh'], 0.8, 'a number the partial run did not measure is kept');
    assert.equal(merged['relay_kib_per_idle_session'], 30, 'a number it measured again is replaced');
    assert.equal(merged['cluster_sessions_per_s_3nodes'], 80, 'a new number is added at the top level');
    assert.deepEqual(Object.keys(merged).slice(0, 3), ['bulk_ratio_vs_ssh', 'relay_kib_per_idle_session', 'cluster_sessions_per_s_3nodes'], 'headline keys first');
    assert.deepEqual(merged['headline'], { bulk_ratio_vs_ssh: 0.8, relay_kib_per_idle_session: 30, cluster_sessions_per_s_3nodes: 80 });
    assert.equal(merged['date'], full.date, 'the full run\'s date stays');
    assert.equal(merged['partial'], false);
    assert.deepEqual((merged['measurements'] as Array<{ id: string }>).map((m) => m.id), ['bulk_mbps', 'cluster_sessions_per_s']);
    const goal = (merged['goals'] as Array<{ key: string; measured: number | null }>).find((g) => g.key === 'relay_kib_per_idle_session');
    assert.equal(goal?.measured, 30, 'goals evaluated on the merged numbers');
    const updates = merged['updates'] as Array<{ date: string; workloads: string[]; notes: string[] }>;
    assert.deepEqual(updates.map((u) => [u.date, u.workloads, u.notes]), [['2026-12-06T20:00:00.000Z', ['cluster'], ['partial note']]]);
    const again = mergePublished(merged, { ...partial, date: '2026-12-07T00:00:00.000Z' }, ['cluster']);
    assert.equal((again['updates'] as unknown[]).length, 2, 'updates accumulate');
    assert.deepEqual((again['measurements'] as Array<{ id: string }>).map((m) => m.id), ['bulk_mbps', 'cluster_sessions_per_s'], 'a measurement is replaced, not repeated');
  });

  it('without earlier results (or with another schema) the partial run is published as it is', () => {
    const partial = results({ cluster_sessions_per_s_3nodes: 80 });
    assert.equal(mergePublished(undefined, partial, ['cluster'])['cluster_sessions_per_s_3nodes'], 80);
    assert.equal(mergePublished({ schema: 'other' }, partial, ['cluster'])['schema'], 'kubepair-bench/1');
  });
});
