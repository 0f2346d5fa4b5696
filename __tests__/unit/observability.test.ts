// The observability pieces on their own: options validation, metrics on a shared registry,
// request ids (honoured, replaced, a host's own kept) and the log context they add.

import express from 'express';
import request from 'supertest';
import { Registry } from 'prom-client';
import { ConfigError } from '../../lib/errors';
import { resolveOptions } from '../../lib/config/resolve';
import { MemoryStore } from '../../lib/store/memory-store';
import { ResponsesMetrics } from '../../lib/observability/metrics';
import { currentLogContext, requestId, requestIdFor, runWithLogContext, withLogContext } from '../../lib/observability/request-id';
import { usageOf } from '../../lib/observability/lifecycle';
import { silentLogger } from '../../lib/logger';
import type { Logger } from '../../lib/types';

function problemsOf(options: Parameters<typeof resolveOptions>[0]): string[] {
  try {
    resolveOptions({ store: new MemoryStore(), logger: silentLogger, auth: 'none', ...options });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('observability options', () => {
  test('metrics accepts true, false and { registry, prefix }, and names what is wrong otherwise', () => {
    for (const metrics of [true, false, {}, { registry: new Registry(), prefix: 'llm_' }]) {
      expect(() => resolveOptions({ store: new MemoryStore(), logger: silentLogger, auth: 'none', metrics })).not.toThrow();
    }
    expect(problemsOf({ metrics: 'yes' as never }).join('\n')).toMatch(/metrics.*Write true, false, or \{ registry, prefix \}/);
    expect(problemsOf({ metrics: { registry: {} as never } }).join('\n')).toMatch(/metrics\.registry is not a prom-client Registry/);
    expect(problemsOf({ metrics: { prefix: 'bad prefix' } }).join('\n')).toMatch(/metrics\.prefix.*Prometheus name prefix/);
    expect(problemsOf({ metrics: { registy: new Registry() } as never }).join('\n')).toMatch(/registy/);
  });

  test('lifecycleHooks accepts a function for onResponseFinished and refuses anything else', () => {
    expect(() =>
      resolveOptions({ store: new MemoryStore(), logger: silentLogger, auth: 'none', lifecycleHooks: { onResponseFinished: () => undefined } }),
    ).not.toThrow();
    expect(problemsOf({ lifecycleHooks: { onResponseFinished: 'bill' as never } }).join('\n')).toMatch(/onResponseFinished is .*not a function/);
    expect(problemsOf({ lifecycleHooks: { onFinished: () => undefined } as never }).join('\n')).toMatch(/onFinished/);
  });
});

describe('ResponsesMetrics', () => {
  test('two sets of metrics on one registry share their series instead of throwing', async () => {
    const registry = new Registry();
    const a = new ResponsesMetrics({ registry });
    const b = new ResponsesMetrics({ registry });
    a.responseEnded('polling', 'completed');
    b.responseEnded('polling', 'completed');
    b.limiterRefusal('budget');
    const text = await registry.metrics();
    expect(text).toContain('responses_polling_responses_total{path="polling",status="completed"} 2');
    expect(text).toContain('responses_polling_limiter_refusals_total{reason="budget"} 1');
  });

  test('usage is read from the Response usage, with the total computed when absent', () => {
    expect(usageOf({ input_tokens: 3, output_tokens: 4 })).toEqual({ inputTokens: 3, outputTokens: 4, totalTokens: 7 });
    expect(usageOf(null)).toBeNull();
  });
});

describe('request ids', () => {
  test('a plain incoming id is kept; an empty, long or unsafe one is replaced', () => {
    expect(requestIdFor('abc-123_x.y:z')).toBe('abc-123_x.y:z');
    for (const bad of ['', 'a'.repeat(129), 'has space', 'line\nbreak', '<script>', undefined, ['a', 'b']]) {
      expect(requestIdFor(bad)).toMatch(/^req_[0-9a-f]{28}$/);
    }
  });

  test('the middleware returns the id, and a host app that set its own x-request-id keeps it', async () => {
    const app = express();
    app.use('/host', (_req, res, next) => {
      res.setHeader('x-request-id', 'host-made-7');
      next();
    });
    const seen: Array<string | undefined> = [];
    app.use(requestId(), (_req, res) => {
      seen.push(currentLogContext()?.requestId);
      res.json({});
    });
    expect((await request(app).get('/x').set('x-request-id', 'client-1')).headers['x-request-id']).toBe('client-1');
    expect((await request(app).get('/host/x').set('x-request-id', 'client-2')).headers['x-request-id']).toBe('host-made-7');
    expect(seen).toEqual(['client-1', 'host-made-7']);
  });

  test('the context logger adds request_id and response_id, and fields given by the caller win', () => {
    const lines: Array<Record<string, unknown> | undefined> = [];
    const base: Logger = { debug() {}, info: (_m, f) => lines.push(f), warn() {}, error() {} };
    const logger = withLogContext(base);
    expect(withLogContext(logger)).toBe(logger);
    logger.info('outside');
    runWithLogContext({ requestId: 'r1', responseId: 'resp_1' }, () => logger.info('inside', { id: 'resp_1', request_id: 'explicit' }));
    expect(lines).toEqual([undefined, { request_id: 'explicit', response_id: 'resp_1', id: 'resp_1' }]);
  });
});
