// A tiny run of the benchmark harness (bench/run.js on the built package), so it cannot rot.
// It checks only that every scenario ran and produced well-formed rows; no timing is asserted.

interface BenchRow {
  scenario: string;
  metric: string;
  value: unknown;
  unit: string;
  target: string;
  pass?: boolean;
}
interface BenchResult {
  machine: { cores: number; node: string; redis: string; date: string };
  mode: string;
  rows: BenchRow[];
  details: Record<string, Record<string, unknown>>;
}
// Plain JS on purpose (bench/ runs without a build step), so it is required, not imported.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const bench = require('../../bench/run') as { runBench(options: { mode: string }): Promise<BenchResult> };
// eslint-disable-next-line @typescript-eslint/no-require-imports
const report = require('../../bench/lib/report') as { formatTable(result: BenchResult): string; formatMarkdown(result: BenchResult, command: string): string };

describe('the benchmark harness', () => {
  let result: BenchResult;

  beforeAll(async () => {
    result = await bench.runBench({ mode: 'smoke' });
  }, 120_000);

  it('runs all six scenarios, each on its own redis-server, and reports the machine', () => {
    const scenarios = new Set(result.rows.map((r) => r.scenario.split(' ')[0]));
    expect([...scenarios].sort()).toEqual(['1', '2', '3', '4', '5', '6']);
    expect(Object.keys(result.details).sort()).toEqual(['create', 'many', 'poll', 'resume', 'worker', 'writeAmp']);
    expect(result.machine.cores).toBeGreaterThan(0);
    expect(result.machine.redis).toMatch(/^\d+\.\d+/);
  });

  it('gives every row a metric, a result and, where a target exists, a pass or miss mark', () => {
    for (const row of result.rows) {
      expect(row.metric.length).toBeGreaterThan(0);
      expect(row.value === undefined || row.value === null).toBe(false);
      if (row.target) expect(typeof row.pass).toBe('boolean');
    }
  });

  it('checks every final output of the many-at-once scenario byte for byte and finds none lost', () => {
    const many = result.rows.find((r) => r.metric.startsWith('final outputs byte-exact'));
    expect(many).toBeDefined();
    expect(many?.pass).toBe(true);
  });

  it('formats the results as a terminal table and as Markdown', () => {
    expect(report.formatTable(result)).toContain('scenario');
    expect(report.formatMarkdown(result, 'npm run bench')).toContain('| 1 poll |');
  });
});
