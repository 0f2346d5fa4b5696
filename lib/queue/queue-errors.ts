// The errors the queue writes on a response it ends `failed`: stated once, used by both stores and the worker pool.

import { ApiError, ERROR_CODES } from '../errors';
import { ERROR_DETAILS, responseError } from '../response-vocabulary';
import type { ResponseErrorObject } from '../types';

/** A response that waited longer than `worker.maxQueueMs` for a worker with capacity. */
export const QUEUE_TIMEOUT_ERROR: Readonly<ResponseErrorObject> = Object.freeze(
  responseError(
    ERROR_DETAILS.queueTimeout,
    'The response waited in the queue longer than the longest wait allowed (worker.maxQueueMs) without a worker ' +
      "with free capacity claiming it: its deployment's max_parallel_requests were all in use, or no worker was running.",
  ),
);

/** A response created while its process was shutting down (the same error a stopped worker writes). */
export const SHUTDOWN_ERROR: Readonly<ResponseErrorObject> = Object.freeze(responseError(ERROR_DETAILS.shutdown, 'The server shut down before the response was complete'));

/** A response whose workers died `attempts` times after claiming it, before its upstream sent anything. */
export function requeueExhaustedError(attempts: number): ResponseErrorObject {
  return responseError(
    ERROR_DETAILS.claimAttemptsExhausted,
    `The response was claimed ${attempts} times by workers that stopped before its upstream answered (worker.maxClaimAttempts); it was not started again.`,
  );
}

/** The answer to a create whose deployment group's queue is full (`worker.maxQueued`): 429, nothing stored. */
export function queueFullRefusal(model: string): ApiError {
  return new ApiError(429, `Too many responses of the model '${model}' are waiting or running (worker.maxQueued). Retry after 1s.`, {
    type: 'requests',
    code: ERROR_CODES.queueFull,
    headers: { 'retry-after': '1' },
  });
}
