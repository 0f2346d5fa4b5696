// The reference tables in docs/ agree with the code: error and warning codes, the CLI's flags, and
// every limit with its default, option and YAML key (read from the schemas and the defaults).

import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { SchemaObject } from 'ajv';
import { ERROR_CODES, WARNING_CODES } from '../../lib/errors';
import * as pkg from '../../lib';
import { SERVER_LIMIT_DEFAULTS, USAGE } from '../../lib/cli-args';
import { DEFAULTS } from '../../lib/config/resolve';
import { liteLLMSchema } from '../../lib/config/litellm-schema';
import { tuningProperties } from '../../lib/config/schema-parts';
import { WEBHOOK_DELIVERY_DEFAULTS } from '../../lib/webhooks/resolve';

const ROOT = path.join(__dirname, '..', '..');
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8');

/** The text from the heading `heading` (a whole line) to the next heading of the same or a higher level. */
function section(text: string, heading: string): string {
  const lines = text.split('\n');
  const start = lines.indexOf(heading);
  if (start < 0) throw new Error(`no heading "${heading}"`);
  const level = heading.indexOf(' ');
  // A `#` line inside a code block (a shell comment) is no heading.
  let inCode = false;
  const end = lines.findIndex((line, i) => {
    if (line.startsWith('```')) inCode = !inCode;
    return i > start && !inCode && /^#+ /.test(line) && line.indexOf(' ') <= level;
  });
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

/** The body rows (no header) of every Markdown table in `text`, as cells (an escaped `\|` stays in its cell). */
function tables(text: string): string[][][] {
  const found: string[][][] = [];
  let rows: string[][] | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith('|')) {
      rows = undefined;
      continue;
    }
    const cells = line.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim());
    // A table's first line is its header, the second its rule.
    if (!rows) found.push((rows = []));
    else if (!cells.every((c) => /^:?-+:?$/.test(c))) rows.push(cells);
  }
  return found;
}

/** The first `code` span of a cell. */
const code = (cell: string): string => /`([^`]*)`/.exec(cell)?.[1] ?? '';

/** The first `code` span of a cell, as a number. */
const numberIn = (cell: string): number => Number(code(cell).replace(/_/g, ''));

/** `headersTimeoutMs` → `--headers-timeout-ms`. */
const flagOf = (name: string): string => `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

describe('docs/configuration.md: error and warning codes', () => {
  const [errors, warnings] = tables(section(read('docs/configuration.md'), '### Error and warning codes'));

  test('the error table lists every code of ERROR_CODES, and nothing else', () => {
    expect(errors.map((row) => code(row[1])).sort()).toEqual(Object.values(ERROR_CODES).sort());
  });

  test('every error class the table names is exported from the package, with its code', () => {
    for (const row of errors) {
      const exported = (pkg as Record<string, unknown>)[code(row[0])];
      expect({ name: code(row[0]), exported: typeof exported }).toEqual({ name: code(row[0]), exported: 'function' });
    }
  });

  test('the warning table lists every code of WARNING_CODES, and nothing else', () => {
    expect(warnings.map((row) => code(row[0])).sort()).toEqual(Object.values(WARNING_CODES).sort());
  });
});

describe('docs/deployment.md: the CLI flags', () => {
  const [flags] = tables(section(read('docs/deployment.md'), '## CLI'));

  test('the flag table names every flag of --help, and nothing else', () => {
    const help = [...USAGE.matchAll(/^ {2}(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1]);
    expect(help).toContain('--role');
    const documented = flags.flatMap((row) => [...row[0].matchAll(/(--[a-z-]+)/g)].map((m) => m[1]));
    expect(documented.sort()).toEqual(help.sort());
  });

  test("the server limits' defaults are the CLI's", () => {
    for (const [name, value] of Object.entries(SERVER_LIMIT_DEFAULTS)) {
      const flag = flagOf(name);
      const row = flags.find((r) => r[0].includes(`${flag} `));
      expect({ flag, default: row && numberIn(row[1]) }).toEqual({ flag, default: value });
    }
  });
});

describe('docs/security.md: every limit with its default, option and YAML key', () => {
  const [rows] = tables(section(read('docs/security.md'), '## Limits and their defaults'));
  const defaults: Record<string, unknown> = { ...DEFAULTS, webhookDelivery: WEBHOOK_DELIVERY_DEFAULTS };
  const valueAt = (tree: Record<string, unknown>, dotted: string): unknown =>
    dotted.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], tree);

  // Tuning that bounds nothing a client or a fault could grow: names, pacing, backoff.
  const NOT_LIMITS = [
    'keyPrefix',
    'idPrefix',
    'keyParallelLimit',
    'nativeReconcileIntervalMs',
    'worker.flushIntervalMs',
    'worker.flushMaxEvents',
    'worker.flushMaxBytes',
    'worker.upstreamRetryBaseMs',
    'worker.claimIntervalMs',
    'webhookDelivery.backoffBaseMs',
    'webhookDelivery.backoffMaxMs',
    'webhookDelivery.pollIntervalMs',
  ];

  /** Every leaf of the tuning options (`worker.leaseMs`); the webhook endpoints are a list, not a limit. */
  function tuningLeaves(): string[] {
    const leaves: string[] = [];
    for (const [name, schema] of Object.entries(tuningProperties('options'))) {
      if (schema.type === 'array') continue;
      if (schema.type === 'object' && schema.properties) for (const sub of Object.keys(schema.properties)) leaves.push(`${name}.${sub}`);
      else leaves.push(name);
    }
    return leaves;
  }

  /** The option a `responses_polling` YAML key is read into, from the schema's `option` annotations. */
  function optionOfYaml(dotted: string): string {
    let node: SchemaObject = liteLLMSchema.properties.responses_polling;
    const option: string[] = [];
    for (const key of dotted.split('.')) {
      node = node.properties?.[key];
      if (!node) return `(no YAML key ${dotted})`;
      option.push(node.option ?? key);
    }
    return option.join('.');
  }

  test('every limit of the schema and every server limit of the CLI has a row', () => {
    const options = rows.map((row) => code(row[1]));
    const expected = [
      ...tuningLeaves().filter((leaf) => !NOT_LIMITS.includes(leaf)),
      ...Object.keys(SERVER_LIMIT_DEFAULTS).map(flagOf),
    ];
    expect([...options].sort()).toEqual(expected.sort());
    // Each NOT_LIMITS entry is a real option, so the list cannot go stale.
    expect(NOT_LIMITS.filter((leaf) => !tuningLeaves().includes(leaf))).toEqual([]);
  });

  test("each row's default is the code's default, and its YAML key is read into its option", () => {
    for (const [, optionCell, yamlCell, defaultCell] of rows) {
      const option = code(optionCell);
      if (option.startsWith('--')) {
        const name = option.slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) as keyof typeof SERVER_LIMIT_DEFAULTS;
        expect({ option, default: numberIn(defaultCell), yaml: yamlCell }).toEqual({ option, default: SERVER_LIMIT_DEFAULTS[name], yaml: '' });
      } else {
        expect({ option, default: numberIn(defaultCell), yaml: optionOfYaml(code(yamlCell)) }).toEqual({ option, default: valueAt(defaults, option), yaml: option });
      }
    }
  });
});

describe('the defaults stated in the option tables of docs/ are the code\'s', () => {
  const defaults: Record<string, unknown> = { ...DEFAULTS, webhookDelivery: WEBHOOK_DELIVERY_DEFAULTS };
  const valueAt = (dotted: string): unknown =>
    dotted.split('.').reduce<unknown>((node, key) => (node as Record<string, unknown> | undefined)?.[key], defaults);

  test.each([
    ['docs/configuration.md', '### Options (JS object)', 0, 1],
    ['docs/limits.md', '# Limits on one response', 0, 2],
    ['docs/limits.md', '# Limits on stream followers', 0, 2],
  ])('%s, %s', (page, heading, optionColumn, defaultColumn) => {
    const checked: string[] = [];
    for (const row of tables(section(read(page), heading)).flat()) {
      // Rows naming one option whose default is a number; `a` / `b` rows and objects are skipped.
      const option = /^`([\w.]+)`$/.exec(row[optionColumn])?.[1];
      if (!option || typeof valueAt(option) !== 'number') continue;
      expect({ option, default: numberIn(row[defaultColumn]) }).toEqual({ option, default: valueAt(option) });
      checked.push(option);
    }
    expect(checked.length).toBeGreaterThan(3);
  });
});
