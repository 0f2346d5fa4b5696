// Formats benchmark results: a plain-text table for the terminal and Markdown for BENCHMARKS.md.
'use strict';

const mark = (pass) => (pass === undefined ? '' : pass ? 'pass' : 'MISS');

function cells(r) {
  return [r.scenario, r.metric, String(r.ours ?? ''), String(r.baseline ?? ''), `${r.value ?? ''} ${r.unit}`.trim(), r.target, mark(r.pass)];
}

const HEAD = ['scenario', 'metric', 'ours', 'baseline', 'result', 'target', ''];

/** A fixed-width table. */
function formatTable({ machine, mode, rows }) {
  const all = [HEAD, ...rows.map(cells)];
  const widths = HEAD.map((_, i) => Math.max(...all.map((c) => c[i].length)));
  const line = (c) => c.map((x, i) => x.padEnd(widths[i])).join(' | ').trimEnd();
  const header = `mode ${mode}, ${machine.date}, ${machine.cores} cores (${machine.cpu}), Node ${machine.node}, Redis ${machine.redis}, load average ${machine.loadavg.join(' ')}`;
  return [header, '', line(HEAD), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map((r) => line(cells(r)))].join('\n');
}

/** A Markdown section: command, machine and the table. */
function formatMarkdown({ machine, mode, rows }, command) {
  const esc = (s) => String(s).replace(/\|/g, '\\|');
  return [
    `Command: \`${command}\` (mode ${mode})  `,
    `Date: ${machine.date}  `,
    `Machine: ${machine.cores} cores (${machine.cpu}), ${machine.memoryGB} GB, ${machine.platform}, Node ${machine.node}, Redis ${machine.redis}; load average at the end ${machine.loadavg.join(' ')}`,
    '',
    `| ${HEAD.map(esc).join(' | ')} |`,
    `|${HEAD.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${cells(r).map(esc).join(' | ')} |`),
    '',
  ].join('\n');
}

module.exports = { formatTable, formatMarkdown };
