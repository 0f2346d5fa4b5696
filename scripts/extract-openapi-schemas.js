// Extracts from OpenAI's OpenAPI document the schemas the conformance tests validate against (the
// Response, the failure events and everything they reference) into a fixture the repository keeps.
// Usage: node scripts/extract-openapi-schemas.js <openapi.yaml> [SOURCE.json]
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const yaml = require('js-yaml');

/** The schemas the tests name; the fixture holds them and every schema they reference. */
const ROOTS = ['Response', 'ResponseErrorCode', 'ResponseErrorEvent', 'ResponseFailedEvent'];
const OUT = path.resolve(__dirname, '..', '__tests__', 'fixtures', 'openai-response-schemas.json');

function refsOf(value, out) {
  if (Array.isArray(value)) for (const v of value) refsOf(v, out);
  else if (value && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      if (key === '$ref' && typeof v === 'string') out.add(v.replace('#/components/schemas/', ''));
      else refsOf(v, out);
    }
  }
}

const [specPath, sourcePath] = process.argv.slice(2);
if (!specPath) {
  process.stderr.write('usage: node scripts/extract-openapi-schemas.js <openapi.yaml> [SOURCE.json]\n');
  process.exit(2);
}
const all = yaml.load(fs.readFileSync(specPath, 'utf8')).components.schemas;
const seen = new Set();
const queue = [...ROOTS];
while (queue.length) {
  const name = queue.pop();
  if (seen.has(name)) continue;
  if (!all[name]) throw new Error(`the document has no schema ${name}`);
  seen.add(name);
  const refs = new Set();
  refsOf(all[name], refs);
  queue.push(...refs);
}
const schemas = {};
for (const name of [...seen].sort()) schemas[name] = all[name];
const source = sourcePath ? JSON.parse(fs.readFileSync(sourcePath, 'utf8')) : { path: specPath };
fs.writeFileSync(OUT, `${JSON.stringify({ source, roots: ROOTS, components: { schemas } })}\n`);
process.stdout.write(`wrote ${path.relative(process.cwd(), OUT)} (${seen.size} schemas)\n`);
