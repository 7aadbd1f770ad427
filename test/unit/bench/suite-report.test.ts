/**
 * The side-by-side benchmark's own logic (issue 6): quantiles, goals and how far each is
 * missed, the options that make a run partial, the hand-written SVG chart, (issue 13) a
 * workload's own section and a partial run merged into the published results, and (issue 15)
 * the goals against `ssh -J` and the CPU of each process of a path. The benchmark
 * itself is never run by the tests (no timing in tests); this checks what it computes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { quantile } from '../../../bench/lib/load.js';
import { cpuSpent } from '../../../bench/lib/process-cost.js';
import { UsageError, parseSuiteOptions } from '../../../bench/lib/suite-options.js';
import { GOALS, chartSpec, evaluateGoals, mergePublished, renderMarkdown, renderSection } from '../../../bench/lib/suite-report.js';
import type { SuiteResults } from '../../../bench/lib/suite-report.js';
import { escapeXml, renderChart } from '../../../bench/lib/svg-chart.js';
import { formatKubectlRun } from '../../../bench/workloads/kubectl.js';
import { measurement, ratioOf, sideFigures } from '../../../bench/workloads/workload.js';

function results(headline: Record<string, number | null>): SuiteResults {
  const bulk = measurement(
    { id: 'bulk_mbps', label: 'bulk <1 GiB> & more', unit: 'MB/s', better: 'higher', digits: 0 },
    new Map([
      ['direct', [2000, 2100, 1900, 2050, 1950]],
      ['kubepair', [600, 650, 700, 640, 660]],
      ['ssh', [690, 700, 680, 710, 695]],
      ['ssh_jump', [400, 420, 380, 410, 390]],
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
    const goals = evaluateGoals({ bulk_ratio_vs_ssh: 0.8, latency_ratio_p50_vs_ssh_jump: 0.9, latency_ratio_p99_vs_ssh_jump: null, hol_kept_fraction: 0.95, pairing_ratio_vs_ssh: 1.2, relay_kib_per_idle_session: 12 });
    const byKey = new Map(goals.map((goal) => [goal.key, goal]));
    assert.equal(goals.length, GOALS.length);
    assert.equal(byKey.get('bulk_ratio_vs_ssh')?.met, false, '0.8 < 1.0');
    assert.equal(byKey.get('latency_ratio_p50_vs_ssh_jump')?.met, true, '0.9 <= 1.0');
    assert.equal(byKey.get('latency_ratio_p99_vs_ssh_jump')?.met, null, 'not measured');
    assert.equal(byKey.get('hol_kept_fraction')?.met, true);
    assert.equal(byKey.get('pairing_ratio_vs_ssh')?.met, false, '1.2 > 1.0');
    assert.equal(byKey.get('relay_kib_per_idle_session')?.met, true, '12 <= 16');
  });

  it("issue 15's goals: each row of its table, against the bastion (ssh -J) where the issue says so, at the boundary met", () => {
    const expected: Array<[string, '>=' | '<=', number]> = [
      ['bulk_ratio_vs_ssh_jump', '>=', 1.5],
      ['bulk_ratio_vs_ssh', '>=', 1.0],
      ['bulk_cpu_ratio_vs_ssh_jump', '<=', 1.0],
      ['bulk_cpu_s_per_gib_relay', '<=', 0.5],
      ['latency_ratio_p50_vs_ssh_jump', '<=', 1.0],
      ['latency_ratio_p99_vs_ssh_jump', '<=', 1.0],
      ['kubectl_ratio_proxy_vs_direct', '<=', 1.3],
      ['pairing_ratio_vs_ssh', '<=', 1.0],
      ['installed_size_mb', '<=', 25],
      ['relay_kib_per_idle_session', '<=', 16],
    ];
    assert.deepEqual(GOALS.slice(0, expected.length).map((goal) => [goal.key, goal.comparison, goal.target]), expected);
    const atTarget = evaluateGoals(Object.fromEntries(expected.map(([key, , target]) => [key, target])));
    for (const [key] of expected) assert.equal(atTarget.find((goal) => goal.key === key)?.met, true, `${key}: exactly the target is met`);
    const missed = evaluateGoals({ bulk_ratio_vs_ssh_jump: 1.49, bulk_cpu_ratio_vs_ssh_jump: 1.01, bulk_cpu_s_per_gib_relay: 0.51, kubectl_ratio_proxy_vs_direct: 1.31 });
    for (const key of ['bulk_ratio_vs_ssh_jump', 'bulk_cpu_ratio_vs_ssh_jump', 'bulk_cpu_s_per_gib_relay', 'kubectl_ratio_proxy_vs_direct']) {
      assert.equal(missed.find((goal) => goal.key === key)?.met, false, `${key}: just past the target is missed`);
    }
  });

  it('the report says by how much a goal is missed and what was skipped', () => {
    const text = renderMarkdown(results({ bulk_ratio_vs_ssh: 0.8, bulk_ratio_vs_ssh_jump: 1.6, bulk_cpu_s_per_gib_relay: 1.25, pairing_ratio_vs_ssh: 1.2 }), 'chart.svg');
    assert.match(text, /\| bulk throughput vs `ssh -L` \(one hop fewer, aes256-gcm\) \| >= 1 × \| \*\*missed\*\* by 0\.20 × \(20% short\) \|/);
    assert.match(text, /\| bulk throughput vs `ssh -J` \(bastion hop, aes256-gcm on both hops\) \| >= 1\.5 × \| met \(1\.60 ×\) \|/);
    assert.match(text, /\| bulk: relay CPU per GiB forwarded \| <= 0\.5 CPU s\/GiB \| \*\*missed\*\* by 0\.75 CPU s\/GiB \(2\.5× the target\) \|/, 'CPU s/GiB with two decimals');
    assert.match(text, /\| `connect` start to first byte vs `ssh -L`'s [^|]*\| <= 1 × \| \*\*missed\*\* by 0\.20 × \(1\.2× the target\) \|/);
    assert.match(text, /\| `kubectl get` 2,000 ConfigMaps, proxy mode vs direct \| <= 1\.3 × \| not measured \|/);
    assert.match(text, /Skipped: OpenSSH comparison \(not installed: sshd\)\./);
    assert.match(text, /\| OpenSSH ssh -L aes256-gcm \| OpenSSH ssh -J aes256-gcm \| kubepair \/ direct \| kubepair \/ ssh -L \| kubepair \/ ssh -J \|/, 'a column for each OpenSSH path and a ratio to each');
    assert.match(text, /\| 2,000 \(1,900–2,100\) \| 650 \(600–700\) \| 695 \(680–710\) \| 400 \(380–420\) \| 0\.33× \| 0\.94× \| 1\.63× \|/, 'median (min–max) cells and ratios');
  });
});

describe('benchmark CPU per process and ratios (issue 15)', () => {
  it('CPU between two readings is counted for each process and in all; a process gone by the second reading counts nothing', () => {
    const spent = cpuSpent(
      new Map([[10, 1.5], [20, 4], [30, 2]]),
      new Map([[10, 2.25], [20, 4.5], [30, 0]]),
    );
    assert.deepEqual([...spent.cpuSecondsByRoot], [[10, 0.75], [20, 0.5], [30, 0]]);
    assert.equal(spent.cpuSeconds, 1.25);
    assert.deepEqual(cpuSpent(undefined, new Map([[10, 1]])), { cpuSeconds: undefined, cpuSecondsByRoot: new Map() }, 'without /proc: nothing');
  });

  it('per-process CPU per GiB goes to the side each process sits on; a side with two processes adds them up', () => {
    const kubepair = {
      processes: () => [
        { side: 'laptop' as const, name: 'connect', pid: 1 },
        { side: 'middle' as const, name: 'relay', pid: 2 },
        { side: 'target' as const, name: 'share', pid: 3 },
      ],
    };
    assert.deepEqual(sideFigures(kubepair, new Map([[1, 2], [2, 0.5], [3, 3]]), 2), { cpu_laptop: 1, cpu_middle: 0.25, cpu_target: 1.5 });
    const twoOnOneSide = {
      processes: () => [
        { side: 'laptop' as const, name: 'ssh', pid: 1 },
        { side: 'target' as const, name: 'sshd', pid: 2 },
        { side: 'target' as const, name: 'other sshd', pid: 3 },
        { side: 'middle' as const, name: 'failed to spawn', pid: undefined },
      ],
    };
    assert.deepEqual(sideFigures(twoOnOneSide, new Map([[1, 1], [2, 1], [3, 2]]), 1), { cpu_laptop: 1, cpu_target: 3 }, 'no figure for a process without a pid or a reading');
  });

  it('a kubectl run\'s log line splits the tunnel CPU by process, named by the processes on each side', () => {
    const kubepair = {
      processes: () => [
        { side: 'laptop' as const, name: 'connect', pid: 1 },
        { side: 'middle' as const, name: 'relay', pid: 2 },
        { side: 'target' as const, name: 'share', pid: 3 },
      ],
    };
    const figures = { ms: 212.4, cpu_ms: 61.2, ...sideFigures(kubepair, new Map([[1, 0.0204], [2, 0.0078], [3, 0.033]]), 1e-3) };
    assert.equal(formatKubectlRun(figures, kubepair), '212 ms (tunnel CPU 61 ms = connect 20 + relay 8 + share 33)');
    assert.equal(formatKubectlRun({ ms: 150.2 }, { processes: () => [] }), '150 ms', 'direct: wall time only');
    const ssh = { processes: () => [{ side: 'laptop' as const, name: 'ssh', pid: 1 }, { side: 'target' as const, name: 'sshd', pid: 2 }] };
    assert.equal(formatKubectlRun({ ms: 200, cpu_ms: 5, cpu_laptop: 2, cpu_target: 3 }, ssh), '200 ms (tunnel CPU 5 ms = ssh 2 + sshd 3)');
  });

  it('a ratio of medians is null when either is missing or the divisor is not above zero', () => {
    assert.equal(ratioOf(3, 2), 1.5);
    assert.equal(ratioOf(null, 2), null);
    assert.equal(ratioOf(3, null), null);
    assert.equal(ratioOf(0.2, 0), null, 'an added latency of zero has no ratio');
    assert.equal(ratioOf(0.2, -0.01), null, 'nor one below direct');
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

  it('--compare-cli names another build for the pairing workload and makes the run partial', () => {
    const compared = parseSuiteOptions(['--only', 'pairing', '--compare-cli', '/tmp/before/dist/cli/main.js']);
    assert.ok(compared !== 'help');
    assert.equal(compared.compareCli, '/tmp/before/dist/cli/main.js');
    assert.equal(compared.write, false);
    const plain = parseSuiteOptions([]);
    assert.ok(plain !== 'help');
    assert.equal(plain.compareCli, undefined);
    assert.throws(() => parseSuiteOptions(['--compare-cli']), (err: unknown) => err instanceof UsageError && /--compare-cli needs a value/.test(err.message));
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
    assert.equal((svg.match(/<rect x=/g) ?? []).length, 4, 'four bars: direct, kubepair, ssh -L, ssh -J');
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
