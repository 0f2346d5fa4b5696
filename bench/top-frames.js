// Prints the top frames of V8 CPU profiles (`node --cpu-prof` output, as `npm run bench -- --profile`
// writes under bench/profiles/): self time and inclusive time per function, biggest first.
// Usage: node bench/top-frames.js <file.cpuprofile | directory> [count]
'use strict';

const fs = require('node:fs');
const path = require('node:path');

function files(target) {
  if (fs.statSync(target).isFile()) return [target];
  return fs.readdirSync(target, { recursive: true }).map((f) => path.join(target, String(f))).filter((f) => f.endsWith('.cpuprofile'));
}

function frameName(node) {
  const cf = node.callFrame;
  const where = cf.url ? `${cf.url.replace(/^file:\/\//, '').replace(/.*\/(node_modules|dist)\//, '$1/')}:${cf.lineNumber + 1}` : '';
  return `${cf.functionName || '(anonymous)'} ${where}`.trim();
}

/** Self and inclusive time per frame name, in ms, and the total sampled time. */
function summarize(profile) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map();
  const deltas = profile.timeDeltas;
  for (let i = 0; i < profile.samples.length; i++) selfUs.set(profile.samples[i], (selfUs.get(profile.samples[i]) ?? 0) + (deltas[i] ?? 0));
  const self = new Map();
  const total = new Map();
  let sum = 0;
  for (const [id, us] of selfUs) {
    sum += us;
    const name = frameName(byId.get(id));
    self.set(name, (self.get(name) ?? 0) + us);
    const seen = new Set();
    for (let at = id; at !== undefined; at = parent.get(at)) {
      const n = frameName(byId.get(at));
      if (seen.has(n)) continue;
      seen.add(n);
      total.set(n, (total.get(n) ?? 0) + us);
    }
  }
  return { self, total, sumMs: sum / 1000 };
}

function main() {
  const [target, countArg] = process.argv.slice(2);
  if (!target) throw new Error('usage: node bench/top-frames.js <file.cpuprofile | directory> [count]');
  const count = Number(countArg ?? 25);
  for (const file of files(target)) {
    const { self, total, sumMs } = summarize(JSON.parse(fs.readFileSync(file, 'utf8')));
    const busy = sumMs - ((self.get('(idle)') ?? 0) + (self.get('(program)') ?? 0) * 0) / 1000;
    process.stdout.write(`\n${file}: ${Math.round(sumMs)} ms sampled, ${Math.round(busy)} ms not idle\n`);
    const top = (map) => [...map].filter(([n]) => n !== '(idle)' && n !== '(root)').sort((a, b) => b[1] - a[1]).slice(0, count);
    process.stdout.write('  self ms  incl ms  frame\n');
    for (const [name, us] of top(self)) process.stdout.write(`  ${(us / 1000).toFixed(0).padStart(7)}  ${((total.get(name) ?? 0) / 1000).toFixed(0).padStart(7)}  ${name}\n`);
  }
}

module.exports = { summarize };
if (require.main === module) main();
