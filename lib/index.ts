// Public entry point: re-exports only.

export { responsesPolling, type ResponsesPollingRouter } from './responses-polling';
export { responsesWorker, type ResponsesWorker } from './queue/responses-worker';
export { auth, presentedKey, assertModelAllowed, modelAllowed } from './middleware/auth';
export { preCallLimiter } from './middleware/pre-call-limiter';
export { backgroundModeRouter } from './middleware/background-mode-router';
export { pollingHandler } from './middleware/polling-handler';
export { principalOf } from './middleware/request-context';
export { Runtime, runtimeFor, ownerHash, type Principal, type PrincipalLimits } from './runtime';
export { loadConfig } from './config/load-config';
export { resolveOptions } from './config/resolve';
export { shouldUsePolling, findDeployments, isNativeBackgroundModel, providerOfModel } from './config/routing';
export { MemoryStore } from './store/memory-store';
export { createRedisStore, type RedisStore } from './store/redis-store';
export { applyEvent, foldEvents } from './worker/reducer';
export { materialize } from './worker/materialize';
export {
  RESPONSE_ERROR_CODES,
  ERROR_DETAILS,
  RESPONSE_STATUSES,
  FINAL_EVENT_TYPES,
  isResponseStatus,
  isResponseErrorCode,
  errorDetailOf,
  type ResponseErrorCode,
  type ErrorDetail,
} from './response-vocabulary';
export {
  ApiError,
  ConfigError,
  StoreConflictError,
  QueueFullError,
  StoreRecordLostError,
  ResponsesPollingError,
  ERROR_CODES,
  WARNING_CODES,
  type ErrorCode,
  type WarningCode,
} from './errors';
export { RedisStoreUnavailableError } from './store/redis-connection';
export { UpstreamError } from './upstream/client';
export { createRedisLimiter, type RedisLimiter } from './limiter/redis-limiter';
export { MemoryLimiter } from './limiter/memory-limiter';
export type * from './limiter/types';
export { startDemoUpstream, type DemoUpstream, type DemoUpstreamOptions } from './demo-upstream';
export { createStderrLogger, silentLogger } from './logger';
export { ResponsesMetrics, DEFAULT_METRICS_PREFIX, type MetricsOptions, type ResponsePath, type EndStatus } from './observability/metrics';
export { healthCheck, metricsHandler, type HealthCheckOptions, type HealthBody } from './observability/health';
export { requestId, REQUEST_ID_HEADER, currentLogContext, withLogContext, type LogContext } from './observability/request-id';
export { usageOf, type LifecycleHooks, type ResponseFinishedEvent, type ResponseUsage } from './observability/lifecycle';
export * from './types';
export type * from './config/options';
