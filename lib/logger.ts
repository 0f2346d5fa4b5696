// The default logger: warnings and errors as JSON lines on stderr, nothing else, unless
// RESPONSES_POLLING_LOG_LEVEL asks for more.

import type { Logger } from './types';

const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
type Level = (typeof LEVELS)[number];

/** A logger that writes one JSON line per entry at or above `level` to stderr. */
export function createStderrLogger(level: Level = (process.env.RESPONSES_POLLING_LOG_LEVEL as Level) || 'warn'): Logger {
  const min = Math.max(0, LEVELS.indexOf(level));
  const write = (lvl: Level) => (message: string, fields?: Record<string, unknown>) => {
    if (LEVELS.indexOf(lvl) < min) return;
    process.stderr.write(`${JSON.stringify({ level: lvl, time: new Date().toISOString(), msg: message, ...fields })}\n`);
  };
  return { debug: write('debug'), info: write('info'), warn: write('warn'), error: write('error') };
}

/** A logger that drops everything. */
export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
