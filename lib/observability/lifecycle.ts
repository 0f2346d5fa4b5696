// Terminal transitions of responses: counted, logged and handed to the host app's lifecycle hook,
// once each, by the instance whose atomic store step made the transition.

import { errorDetailOf } from '../response-vocabulary';
import type { Logger, ResponseObject } from '../types';
import { currentLogContext } from './request-id';
import type { EndStatus, ResponsePath, ResponsesMetrics } from './metrics';

/** Token counts of a finished response, from its `usage`. */
export interface ResponseUsage {
  inputTokens: number;
  outputTokens: number;
  totalTokens: number;
}

/** What `lifecycleHooks.onResponseFinished` receives. */
export interface ResponseFinishedEvent {
  /** The response id. */
  id: string;
  /** How the response was served. */
  path: Exclude<ResponsePath, 'pass_through'>;
  /**
   * How it ended: `completed`, `failed` (upstream error, worker lost, shutdown…), `incomplete`,
   * `cancelled`, or `deleted` (deleted while its worker was still running).
   */
  status: EndStatus;
  /**
   * The final Response. For `cancelled`, the state stored when the cancel won; for `deleted`,
   * the state stored when the delete removed it (its status is still `in_progress` or `queued`).
   */
  response: ResponseObject;
  /** Hash of the principal that created the response (see `ownerHash`); never a key. */
  owner: string;
  /** Tokens as the upstream reported them in `usage`; `null` when it reported none (cancelled, failed early). */
  usage: ResponseUsage | null;
  /**
   * What failed, in detail, when the Response has an error: the prefix of its `error.message`
   * (`worker_lost`, `upstream_timeout`, an upstream's own code, …; see `ERROR_DETAILS`), while
   * `error.code` is one of OpenAI's codes. `undefined` without an error.
   */
  errorDetail: string | undefined;
  /**
   * The `x-request-id` of the request in which the transition happened: the create's for a
   * response its worker ended, the cancel's or the reading request's otherwise.
   */
  requestId: string | undefined;
}

/** Hooks the host app passes for its own billing or audit. Each call is awaited by nobody. */
export interface LifecycleHooks {
  /**
   * Called once per terminal transition, on the instance that made it. A hook that throws or
   * rejects is logged and counted (`lifecycle_hook_errors_total`), never retried, and never
   * affects the response or the client.
   */
  onResponseFinished?: (event: ResponseFinishedEvent) => void | Promise<void>;
}

/** Token counts from a Response's `usage`, when it has them. */
export function usageOf(usage: unknown): ResponseUsage | null {
  if (!usage || typeof usage !== 'object') return null;
  const u = usage as Record<string, unknown>;
  const inputTokens = typeof u.input_tokens === 'number' ? u.input_tokens : 0;
  const outputTokens = typeof u.output_tokens === 'number' ? u.output_tokens : 0;
  const totalTokens = typeof u.total_tokens === 'number' ? u.total_tokens : inputTokens + outputTokens;
  return { inputTokens, outputTokens, totalTokens };
}

/**
 * What a finished response costs a limiter: its total tokens and their price at `prices` (a
 * deployment's per-token prices; absent ones are 0). `null` when the response reported no usage.
 */
export function usageCharge(
  usage: unknown,
  prices: { inputCostPerToken?: number; outputCostPerToken?: number },
): { tokens: number; spend: number } | null {
  const u = usageOf(usage);
  if (!u) return null;
  return { tokens: u.totalTokens, spend: u.inputTokens * (prices.inputCostPerToken ?? 0) + u.outputTokens * (prices.outputCostPerToken ?? 0) };
}

/** What a call site knows about a terminal transition it made. */
export interface EndedInput {
  id: string;
  path: Exclude<ResponsePath, 'pass_through'>;
  status: EndStatus;
  response: ResponseObject;
  owner: string;
  /** Extra fields for the log line (never a secret). */
  detail?: Record<string, unknown>;
}

/**
 * Reports one terminal transition: the `responses_total` counter, an info log line, and the
 * host's hook (deferred, its failure logged). Returns the hook's settlement, which never rejects,
 * so `close()` can wait for hooks still running.
 */
export function reportEnded(
  input: EndedInput,
  deps: { logger: Logger; metrics: ResponsesMetrics; hooks: LifecycleHooks },
): Promise<void> | undefined {
  const { logger, metrics, hooks } = deps;
  metrics.responseEnded(input.path, input.status);
  logger.info(input.status === 'deleted' ? 'background response deleted while running' : 'background response finished', {
    id: input.id,
    path: input.path,
    status: input.status,
    ...(input.response.error?.code ? { error_code: input.response.error.code, error_detail: errorDetailOf(input.response.error) } : {}),
    ...input.detail,
  });
  const hook = hooks.onResponseFinished;
  if (!hook) return undefined;
  const event: ResponseFinishedEvent = {
    id: input.id,
    path: input.path,
    status: input.status,
    response: input.response,
    owner: input.owner,
    usage: usageOf(input.response.usage),
    errorDetail: errorDetailOf(input.response.error),
    requestId: currentLogContext()?.requestId,
  };
  // Deferred: a slow or throwing hook never delays or breaks the request that made the transition.
  return Promise.resolve()
    .then(() => hook(event))
    .then(
      () => undefined,
      (err: unknown) => {
        metrics.hookErrors.inc();
        logger.error('lifecycle hook onResponseFinished failed', { id: input.id, status: input.status, error: err instanceof Error ? err.message : String(err) });
      },
    );
}
