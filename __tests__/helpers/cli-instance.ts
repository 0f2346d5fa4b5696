// Real CLI processes for the multi-process suites: the built `responses-polling` started on a
// free port with a YAML file, waited for until its ready line, with an official client on it.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';
import { dump } from 'js-yaml';
import { waitFor } from './flow';

/** The built CLI: the suites run it as users do. */
export const CLI = path.join(path.resolve(__dirname, '../..'), 'dist/cjs/cli.js');

/** One running CLI process. */
export interface CliInstance {
  proc: ChildProcess;
  /** Base URL, e.g. `http://127.0.0.1:PORT`, without a trailing slash. */
  origin: string;
  /** An official client on the instance, with the key it was started for. */
  client: OpenAI;
  exited: Promise<number | null>;
  stderr(): string;
}

/** Throws the fix when `dist/` has not been built. */
export function assertCliBuilt(): void {
  if (!existsSync(CLI)) throw new Error('dist/ is missing: run `npm run build` first (`npm test` does it).');
}

/** An official client on `origin` with `apiKey`, no retries. */
export function cliClient(origin: string, apiKey: string): OpenAI {
  return new OpenAI({ baseURL: `${origin}/v1`, apiKey, maxRetries: 0, timeout: 10_000 });
}

/** What {@link cliYaml} puts in a multi-process suite's configuration. */
export interface CliYamlSpec {
  model: string;
  upstreamUrl: string;
  upstreamKey: string;
  redisPort: number;
  masterKey: string;
  keyPrefix: string;
  /** `responses_polling.worker` settings (YAML names). */
  worker?: Record<string, number>;
  /** Extra `litellm_params` of the deployment, e.g. `max_parallel_requests`. */
  deployment?: Record<string, unknown>;
  /** `general_settings.virtual_keys`. */
  virtualKeys?: Array<Record<string, unknown>>;
  /** `litellm_settings.responses.background_mode`; absent: the defaults. */
  backgroundMode?: Record<string, unknown>;
}

/** The LiteLLM-style YAML of one deployment on the test's upstream and Redis, with a master key. */
export function cliYaml(spec: CliYamlSpec): string {
  return dump({
    model_list: [{ model_name: spec.model, litellm_params: { model: 'openai/gpt-4o-mini', api_base: spec.upstreamUrl, api_key: spec.upstreamKey, ...spec.deployment } }],
    litellm_settings: {
      ...(spec.backgroundMode ? { responses: { background_mode: spec.backgroundMode } } : {}),
      cache_params: { type: 'redis', host: '127.0.0.1', port: spec.redisPort },
    },
    general_settings: { master_key: spec.masterKey, ...(spec.virtualKeys ? { virtual_keys: spec.virtualKeys } : {}) },
    responses_polling: { key_prefix: spec.keyPrefix, ...(spec.worker ? { worker: spec.worker } : {}) },
  });
}

/**
 * Starts the CLI with `yaml` as its configuration (and `args` after it) on a free port, without a
 * `REDIS_URL` from the environment. `track` sees the instance before it is ready, so a failed
 * start is still killed by the suite's cleanup.
 */
export async function startCli(yaml: string, opts: { apiKey: string; args?: string[]; track(instance: CliInstance): void }): Promise<CliInstance> {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'rp-cli-')), 'config.yaml');
  writeFileSync(file, yaml);
  const env = { ...process.env, REDIS_URL: '' };
  const proc = spawn(process.execPath, [CLI, '--config', file, '--port', '0', '--host', '127.0.0.1', ...(opts.args ?? [])], { env });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  let stdout = '';
  let stderr = '';
  proc.stdout!.on('data', (c) => (stdout += c));
  proc.stderr!.on('data', (c) => (stderr += c));
  const instance: CliInstance = { proc, exited, origin: '', client: undefined as unknown as OpenAI, stderr: () => stderr };
  opts.track(instance);
  const base = await waitFor(() => /listening on (http:\/\/\S+)\n/.exec(stdout)?.[1], 15_000, `ready line (stderr: ${stderr})`);
  instance.origin = base.replace(/\/$/, '');
  instance.client = cliClient(instance.origin, opts.apiKey);
  return instance;
}

/**
 * Polls `id` with `client` until it has `status`, through restarts and outages (a failed retrieve
 * is retried); the error names the status last seen.
 */
export async function waitForStatusThroughFaults(client: OpenAI, id: string, status: string, timeoutMs: number): Promise<OpenAI.Responses.Response> {
  let last: OpenAI.Responses.Response | undefined;
  try {
    return await waitFor(async () => {
      last = await client.responses.retrieve(id).catch(() => undefined);
      return last?.status === status ? last : undefined;
    }, timeoutMs, `status ${status}`);
  } catch (err) {
    throw new Error(`${(err as Error).message}; last seen: ${JSON.stringify(last?.status)} ${JSON.stringify(last?.error)}`);
  }
}
