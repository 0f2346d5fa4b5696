// Reads a LiteLLM-style YAML file (`model_list`, `litellm_settings`, `general_settings`, …) and
// maps the parts this package understands onto `ResponsesPollingOptions`.

import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'js-yaml';
import { ConfigError, WARNING_CODES } from '../errors';
import { createStderrLogger } from '../logger';
import type { Logger } from '../types';
import { liteLLMSchema, validateLiteLLMConfig } from './litellm-schema';
import type { ResponsesPollingOptions } from './options';
import { authProblems } from './resolve-auth';
import { collectIgnored, normalise, readOptions, type ReadingNotes } from './yaml-reader';

/** Options of {@link loadConfig}. */
export interface LoadConfigOptions {
  /** Where `os.environ/NAME` values (and LiteLLM's REDIS_* fallbacks) are read. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Receives the warnings; also becomes the `logger` of the returned options. Default: stderr. */
  logger?: Logger;
}

/**
 * Reads `file` (relative paths resolve from `process.cwd()`) and returns the options it describes.
 * Throws a `ConfigError` for a YAML syntax error (with file and line) or a bad value (with its
 * YAML path and the fix). LiteLLM settings this package does not use are reported in one warning,
 * never fatal. A `litellm_params.model` without a provider prefix (`gpt-3.5-turbo`) is read as
 * `openai/<name>`, with one warning listing those entries; deployments it cannot serve (a model
 * with no name after the `/`, such as `azure/`) or reach (no `api_base` for a provider other than
 * openai) are skipped with a warning. So LiteLLM's own `proxy_server_config.yaml` loads.
 * An unset `os.environ/` variable leaves its setting empty with a warning, except for
 * `master_key` and a virtual key's `key`, where it is an error (fail closed). Messages carry paths,
 * variable names and model names, never a key, password or URL from the file or the environment.
 */
export function loadConfig(file: string, opts: LoadConfigOptions = {}): ResponsesPollingOptions {
  const env = opts.env ?? process.env;
  const logger = opts.logger ?? createStderrLogger();
  const doc = parseYaml(file);

  const unset: EnvRef[] = [];
  const resolved = resolveEnvRefs(doc, [], env, unset);
  // From the file as written: a key whose os.environ/ variable is unset is still a key the file sets.
  const ignored: string[][] = [];
  collectIgnored(doc, liteLLMSchema, [], ignored);
  const problems = unsetKeys(file, unset);

  normalise(resolved, liteLLMSchema);
  const validation = validateLiteLLMConfig(resolved, file);
  problems.push(...validation.problems);
  if (problems.length > 0) {
    // An unset variable is often the cause of the problem; say so before failing.
    warnUnsetVariables(file, unset, ignored, logger);
    throw new ConfigError(problems);
  }

  const mapped = readOptions(resolved, liteLLMSchema, file, env);
  mapped.problems.push(...authProblems(mapped.options, 'yaml', file));
  warnUnsetVariables(file, unset, ignored, logger);
  if (mapped.problems.length > 0) throw new ConfigError(mapped.problems);
  for (const { code, message } of validation.warnings) logger.warn(message, { code, file });
  if (ignored.length > 0) {
    const paths = [...new Set(ignored.map(collapseIndices))];
    logger.warn(`${file}: ignoring ${paths.length} LiteLLM setting(s) that this package does not use: ${paths.join(', ')}.`, {
      code: WARNING_CODES.yamlSettingIgnored,
      file,
      ignored: paths,
    });
  }
  warnAboutDeployments(file, mapped.notes, logger);
  if (opts.logger) mapped.options.logger = opts.logger;
  return mapped.options;
}

/** One warning per kind of deployment note, each listing every entry by its model_list path. */
function warnAboutDeployments(file: string, notes: ReadingNotes, logger: Logger): void {
  const { inferred, unservable, skipped, strategy } = notes;
  if (strategy !== undefined) {
    logger.warn(
      `${file}: router_settings.routing_strategy "${strategy}" is not implemented here; simple-shuffle is used. ` +
        'Write simple-shuffle or round-robin to silence this warning.',
      { code: WARNING_CODES.yamlRoutingStrategy, file },
    );
  }
  if (inferred.length > 0) {
    const list = inferred.map((n) => `${n.path} ("${n.model}")`).join(', ');
    logger.warn(
      `${file}: ${inferred.length} deployment(s) name a model without a provider prefix: ${list}. ` +
        'They are read as openai/<name>, as LiteLLM infers for OpenAI model names. ' +
        'Write litellm_params.model as openai/<name> to silence this warning (or with the right provider prefix if it is not an OpenAI model).',
      { code: WARNING_CODES.yamlModelInferred, file, paths: inferred.map((n) => n.path) },
    );
  }
  if (unservable.length > 0) {
    logger.warn(
      `${file}: skipping ${unservable.length} deployment(s) whose model cannot be served: ${unservable.join('; ')}. ` +
        'Write litellm_params.model as provider/name, e.g. azure/<deployment name>, to use them.',
      { code: WARNING_CODES.yamlDeploymentSkipped, file, skipped: unservable },
    );
  }
  if (skipped.length > 0) {
    logger.warn(
      `${file}: skipping ${skipped.length} deployment(s) without api_base: ${skipped.join('; ')}. ` +
        'Only OpenAI-compatible APIs are reached; add api_base (the provider’s OpenAI-compatible URL ending in /v1) to use them.',
      { code: WARNING_CODES.yamlDeploymentSkipped, file, skipped },
    );
  }
}

function parseYaml(file: string): unknown {
  const fullPath = path.resolve(process.cwd(), file);
  let text: string;
  try {
    text = fs.readFileSync(fullPath, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'read error';
    throw new ConfigError([
      `${file}: cannot read the configuration file (${code}; looked at ${fullPath}). ` +
        `Check the path; a relative path is resolved from the current directory, ${process.cwd()}.`,
    ]);
  }
  let doc: unknown;
  try {
    doc = yaml.load(text, { filename: file });
  } catch (err) {
    if (err instanceof yaml.YAMLException) {
      // `reason` and `mark` only: the exception's own message quotes the offending line, which may hold a key.
      const line = err.mark ? `:${err.mark.line + 1}:${err.mark.column + 1}` : '';
      throw new ConfigError([`${file}${line}: YAML syntax error: ${err.reason}. Fix the YAML there (indentation, quoting, a missing colon).`]);
    }
    throw err;
  }
  if (doc === undefined || doc === null) {
    throw new ConfigError([`${file}: the file is empty. Write at least a model_list (see the README for an example).`]);
  }
  return doc;
}

// ---------------------------------------------------------------------------------------------
// `os.environ/NAME` references.

interface EnvRef {
  name: string;
  segments: string[];
}

const ENV_PREFIX = 'os.environ/';

function resolveEnvRefs(node: unknown, segments: string[], env: NodeJS.ProcessEnv, unset: EnvRef[]): unknown {
  if (typeof node === 'string') {
    if (!node.startsWith(ENV_PREFIX)) return node;
    const name = node.slice(ENV_PREFIX.length).trim();
    const value = env[name];
    if (value === undefined) unset.push({ name, segments });
    return value;
  }
  if (Array.isArray(node)) return node.map((item, i) => resolveEnvRefs(item, [...segments, String(i)], env, unset));
  if (node && typeof node === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) out[key] = resolveEnvRefs(value, [...segments, key], env, unset);
    return out;
  }
  return node;
}

function isUnder(segments: string[], prefix: string[]): boolean {
  return prefix.length <= segments.length && prefix.every((s, i) => s === segments[i]);
}

/** `general_settings.master_key` and `general_settings.virtual_keys[i].key`. */
function isKeyPath(segments: string[]): boolean {
  const p = segments.join('.');
  return p === 'general_settings.master_key' || /^general_settings\.virtual_keys\.\d+\.key$/.test(p);
}

/**
 * An unset master key would drop a credential the file asks for, an unset virtual key would lock its owner out
 * unnoticed: both are errors (fail closed), not warnings.
 */
function unsetKeys(file: string, unset: EnvRef[]): string[] {
  return unset
    .filter((ref) => isKeyPath(ref.segments))
    .map((ref) =>
      ref.segments[1] === 'master_key'
        ? `${file}: general_settings.master_key reads os.environ/${ref.name}, which is not set. ` +
          `Set ${ref.name} in the environment, or remove master_key to run without it.`
        : `${file}: ${renderPath(ref.segments)} reads os.environ/${ref.name}, which is not set. ` +
          `Set ${ref.name} in the environment, or remove that virtual key.`,
    );
}

/** One warning per unset variable that a setting in use reads, with every path; never a value. */
function warnUnsetVariables(file: string, unset: EnvRef[], notUsed: string[][], logger: Logger): void {
  const byName = new Map<string, string[]>();
  for (const ref of unset) {
    if (notUsed.some((prefix) => isUnder(ref.segments, prefix))) continue;
    if (isKeyPath(ref.segments)) continue;
    byName.set(ref.name, [...(byName.get(ref.name) ?? []), renderPath(ref.segments)]);
  }
  for (const [name, paths] of byName) {
    logger.warn(`${file}: os.environ/${name} is not set; ${paths.join(', ')} left empty. Set ${name} in the environment.`, {
      code: WARNING_CODES.yamlVariableUnset,
      file,
      variable: name,
      paths,
    });
  }
}

function renderPath(segments: string[]): string {
  return segments.map((s, i) => (/^\d+$/.test(s) ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');
}

function collapseIndices(segments: string[]): string {
  return renderPath(segments.map((s) => (/^\d+$/.test(s) ? '*' : s))).replace(/\.\*/g, '[*]');
}
