// The `responses-polling` command line: its flags, their defaults (some from the environment) and
// the help text, parsed and checked once into one settings object.

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Role } from './config/options';
import { ConfigError } from './errors';

/** The values of `--role`. */
const ROLES: readonly Role[] = ['all', 'api', 'worker'];

/** Defaults of the HTTP server's own limits against slow or greedy clients. */
export const SERVER_LIMIT_DEFAULTS = {
  /** Time a client has to send the request headers, in ms (Node's default is 60000). */
  headersTimeoutMs: 10_000,
  /** Time a client has to send the whole request (headers and body), in ms (Node's default is 300000). */
  requestTimeoutMs: 30_000,
  /** Open connections at most; further ones are closed at once (Node's default: no cap). */
  maxConnections: 1_000,
} as const;

/** What the command line asks for, every default applied. */
export interface CliSettings {
  help: boolean;
  version: boolean;
  config: string | undefined;
  port: number;
  host: string;
  /** Mount point of the routes: `''` for the root, else `/path`. */
  prefix: string;
  demo: boolean;
  /** Path of the health check, or `''` when turned off. */
  healthPath: string;
  /** Path of the metrics, or `''` when turned off. */
  metricsPath: string;
  /** Whether the health check and the metrics require the master key. */
  opsAuth: boolean;
  /** Whether an unreachable store at start-up ends the process (exit 1) instead of a warning. */
  requireStore: boolean;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  maxConnections: number;
  /** `all` (routes and workers), `api` (routes only) or `worker` (runs queued responses; health and metrics only). */
  role: Role;
}

/** The help text (`--help`). */
export const USAGE = `Usage: responses-polling [--config FILE] [--port N] [--host H] [--prefix /path] [--demo] [options]

  --config FILE               LiteLLM-style YAML configuration (model_list, litellm_settings, general_settings)
  --port N                    port to listen on (default: $PORT, else 4000; 0 picks a free one)
  --host H                    address to bind (default: $HOST, else 127.0.0.1)
  --prefix /path              mount point of the routes (default /)
  --demo                      serve every model from a built-in demo upstream (no provider needed)
  --health-path /path         health check: store PING and running responses (default /healthz; "" turns it off)
  --metrics-path /path        Prometheus metrics (default /metrics; "" turns it off)
  --ops-auth                  the health check and the metrics require the master key (default: open)
  --require-store             exit 1 when the store is unreachable at start-up (default: warn and serve)
  --headers-timeout-ms N      time a client has to send its request headers (default ${SERVER_LIMIT_DEFAULTS.headersTimeoutMs})
  --request-timeout-ms N      time a client has to send its whole request (default ${SERVER_LIMIT_DEFAULTS.requestTimeoutMs}; 0: none)
  --max-connections N         open connections at most; more are closed at once (default ${SERVER_LIMIT_DEFAULTS.maxConnections})
  --role all|api|worker       all: routes and workers (default); api: routes only, polled responses wait
                              queued for workers; worker: runs queued responses and serves only the
                              health check and the metrics on --port
  -v, --version               print the version and exit
  -h, --help                  print this help and exit

Environment: PORT, HOST, REDIS_URL (the store when the configuration names none),
RESPONSES_POLLING_LOG_LEVEL (warn by default; info or debug show more).
`;

/** The package's version, from its package.json. */
export function packageVersion(): string {
  // dist/cjs/cli.js and lib/cli.ts both sit two levels below the package root.
  const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

/** `/a/b/` → `/a/b`; `/` → `''`. */
export function normalisePath(value: string): string {
  const trimmed = `/${value.replace(/^\/+|\/+$/g, '')}`;
  return trimmed === '/' ? '' : trimmed;
}

function integer(name: string, value: string, min: number, max: number, problems: string[]): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min || n > max) problems.push(`${name} must be an integer from ${min} to ${max} (got "${value}")`);
  return n;
}

/** Parses `argv` (without node and the script) with `env` for PORT and HOST; throws a ConfigError listing every problem. */
export function parseCliArgs(argv: string[], env: NodeJS.ProcessEnv): CliSettings {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        port: { type: 'string' },
        host: { type: 'string' },
        prefix: { type: 'string', default: '/' },
        demo: { type: 'boolean', default: false },
        'health-path': { type: 'string', default: '/healthz' },
        'metrics-path': { type: 'string', default: '/metrics' },
        'ops-auth': { type: 'boolean', default: false },
        'require-store': { type: 'boolean', default: false },
        'headers-timeout-ms': { type: 'string', default: String(SERVER_LIMIT_DEFAULTS.headersTimeoutMs) },
        'request-timeout-ms': { type: 'string', default: String(SERVER_LIMIT_DEFAULTS.requestTimeoutMs) },
        'max-connections': { type: 'string', default: String(SERVER_LIMIT_DEFAULTS.maxConnections) },
        role: { type: 'string', default: 'all' },
        version: { type: 'boolean', short: 'v', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }));
  } catch (err) {
    throw new ConfigError([`${(err as Error).message}. Run responses-polling --help for the flags.`]);
  }
  const problems: string[] = [];
  const port = integer(values.port !== undefined ? '--port' : 'PORT', values.port ?? (env.PORT || '4000'), 0, 65535, problems);
  const headersTimeoutMs = integer('--headers-timeout-ms', values['headers-timeout-ms'], 1, 3_600_000, problems);
  const requestTimeoutMs = integer('--request-timeout-ms', values['request-timeout-ms'], 0, 3_600_000, problems);
  const maxConnections = integer('--max-connections', values['max-connections'], 1, 1_000_000, problems);
  // Node refuses a headers timeout longer than the request timeout (0 turns the latter off).
  if (requestTimeoutMs > 0 && headersTimeoutMs > requestTimeoutMs) problems.push('--headers-timeout-ms must not exceed --request-timeout-ms');
  const role = values.role as Role;
  if (!ROLES.includes(role)) problems.push(`--role must be one of ${ROLES.join(', ')} (got "${values.role}")`);
  if (problems.length > 0) throw new ConfigError(problems);
  return {
    help: values.help,
    version: values.version,
    config: values.config,
    port,
    host: values.host ?? (env.HOST || '127.0.0.1'),
    prefix: normalisePath(values.prefix),
    demo: values.demo,
    healthPath: values['health-path'] ? normalisePath(values['health-path']) : '',
    metricsPath: values['metrics-path'] ? normalisePath(values['metrics-path']) : '',
    opsAuth: values['ops-auth'],
    requireStore: values['require-store'],
    headersTimeoutMs,
    requestTimeoutMs,
    maxConnections,
    role,
  };
}
