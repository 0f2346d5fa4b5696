// Without `@opentelemetry/api` (its require throws) the tracing module loads, gives no-op spans
// and never throws: the package runs the same.

describe('tracing without @opentelemetry/api', () => {
  it('falls back to no-op spans', () => {
    jest.isolateModules(() => {
      jest.doMock('@opentelemetry/api', () => {
        throw new Error("Cannot find module '@opentelemetry/api'");
      });
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const tracing = require('../../lib/observability/tracing') as typeof import('../../lib/observability/tracing');
      expect(tracing.tracingAvailable()).toBe(false);
      const span = tracing.TraceSpan.start(tracing.SPAN_NAMES.create, { [tracing.SPAN_ATTRIBUTES.responseId]: 'resp_1' });
      expect(span).toBe(tracing.TraceSpan.none);
      expect(span.traceParent).toBeUndefined();
      expect(() => span.set({ a: 1 }).fail(new Error('x')).end()).not.toThrow();
      expect(() => tracing.traceFlush({ ms: 1, events: 2, bytes: 3, outcome: 'ok' }, {}, undefined)).not.toThrow();
      expect(() =>
        tracing.traceEnded({ id: 'resp_1', path: 'polling', status: 'failed', response: { error: { code: 'c', message: 'm' } } }, '00-bad', undefined),
      ).not.toThrow();
    });
  });

  it('uses the API when it is installed', () => {
    jest.dontMock('@opentelemetry/api');
    jest.isolateModules(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const tracing = require('../../lib/observability/tracing') as typeof import('../../lib/observability/tracing');
      expect(tracing.tracingAvailable()).toBe(true);
    });
  });
});
