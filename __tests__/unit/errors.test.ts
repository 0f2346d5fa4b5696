// The errors raised outside HTTP share one base with stable codes, and start-up warnings carry codes.

import * as path from 'path';
import { ConfigError, ERROR_CODES, ResponsesPollingError, StoreConflictError, WARNING_CODES } from '../../lib/errors';
import { loadConfig } from '../../lib/config/load-config';
import { resolveOptions } from '../../lib/config/resolve';
import { RedisStoreUnavailableError } from '../../lib/store/redis-store';
import { UpstreamError } from '../../lib/upstream/client';
import type { Logger } from '../../lib/types';

const LITELLM_OWN_FIXTURE = path.join(__dirname, '..', 'fixtures', 'litellm-proxy-server-config.yaml');

function captureWarnings(): { logger: Logger; warnings: { message: string; fields?: Record<string, unknown> }[] } {
  const warnings: { message: string; fields?: Record<string, unknown> }[] = [];
  const ignore = () => undefined;
  return { logger: { debug: ignore, info: ignore, error: ignore, warn: (message, fields) => warnings.push({ message, fields }) }, warnings };
}

describe('errors outside HTTP', () => {
  test('share one base class, each with its own stable code', () => {
    const errors = [
      new ConfigError(['models[0] is wrong']),
      new StoreConflictError('resp_1'),
      new RedisStoreUnavailableError('Redis did not answer'),
      new UpstreamError('connection', 'could not connect'),
    ];
    for (const err of errors) {
      expect(err).toBeInstanceOf(ResponsesPollingError);
      expect(err).toBeInstanceOf(Error);
    }
    expect(errors.map((e) => e.code)).toEqual([
      ERROR_CODES.configInvalid,
      ERROR_CODES.storeConflict,
      ERROR_CODES.storeUnavailable,
      ERROR_CODES.upstreamFailed,
    ]);
    expect(errors.map((e) => e.name)).toEqual(['ConfigError', 'StoreConflictError', 'RedisStoreUnavailableError', 'UpstreamError']);
  });

  test('the codes are distinct, in one table', () => {
    const codes = Object.values(ERROR_CODES);
    expect(new Set(codes).size).toBe(codes.length);
    const warnings = Object.values(WARNING_CODES);
    expect(new Set(warnings).size).toBe(warnings.length);
  });
});

describe('start-up warnings', () => {
  test('each carries a code from the warning table, when a YAML file is loaded and resolved', () => {
    const { logger, warnings } = captureWarnings();
    const options = loadConfig(LITELLM_OWN_FIXTURE, { env: {}, logger });
    resolveOptions({ ...options, auth: undefined, masterKey: 'sk-test-master' }, {});
    expect(warnings.length).toBeGreaterThan(3);
    const known = new Set<unknown>(Object.values(WARNING_CODES));
    for (const w of warnings) expect({ message: w.message, known: known.has(w.fields?.code) }).toEqual({ message: w.message, known: true });
  });

  test('the in-memory store and the unreachable settings warnings carry their codes', () => {
    const { logger, warnings } = captureWarnings();
    resolveOptions(
      {
        models: [{ modelName: 'mini', model: 'openai/mini' }],
        backgroundMode: { pollingViaCache: ['azure'], nativeBackgroundMode: ['nothing'] },
        virtualKeys: [{ key: 'sk-team-a', models: ['other'] }],
        logger,
      },
      {},
    );
    expect(warnings.map((w) => w.fields?.code)).toEqual([
      WARNING_CODES.pollingProviderUnused,
      WARNING_CODES.nativeModelUnmatched,
      WARNING_CODES.virtualKeyModelUnserved,
      WARNING_CODES.memoryStore,
    ]);
  });
});
