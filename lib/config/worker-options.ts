// The tuning options of the streaming worker and of stream followers (a leaf: no imports).

/** Tuning of the streaming worker. */
export interface WorkerOptions {
  /**
   * Longest time an event waits in memory before it is flushed to the store, in ms: how stale a
   * poll or a live stream follower may be. Each flush costs a round trip and about 350 bytes of
   * command, so a longer window writes less (see BENCHMARKS.md). Default 100.
   */
  flushIntervalMs?: number;
  /** A flush happens at once when this many events are waiting. Default 256. */
  flushMaxEvents?: number;
  /** A flush happens at once when the waiting events reach this many bytes. Default 65536. */
  flushMaxBytes?: number;
  /**
   * Lease of a running worker, in ms; the worker renews it at least every quarter of it. A response
   * whose worker died is marked failed (`worker_lost`) at the first read after its lease lapsed.
   * Must leave room for `storeRetryGraceMs` (at most 75% of it minus 2 s). Default 60000.
   */
  leaseMs?: number;
  /** The upstream must answer (headers) within this many ms. Default 30000. */
  upstreamConnectTimeoutMs?: number;
  /** A response fails when the upstream sends nothing for this many ms. Default 120000. */
  upstreamIdleTimeoutMs?: number;
  /**
   * While the store is unreachable a worker keeps its events in memory and retries its flush with
   * backoff for up to this many ms before giving up on the response. Default 30000.
   */
  storeRetryGraceMs?: number;
  /**
   * Bytes of its log a running response's worker keeps in memory, so that a record the store lost
   * (Redis restarted empty, keys removed) is re-created whole. Past it the copy is dropped: a lost
   * record is then re-created without its log, and reads answer `response_data_lost`. 0: no copy.
   * Default 1048576 (1 MiB).
   */
  recoveryLogBytes?: number;
  /** `close()` lets running responses finish for up to this many ms, then ends them. Default 10000. */
  shutdownGraceMs?: number;
  /**
   * Upstream attempts per response, across the deployments of its model name, when an attempt
   * fails before any event arrived (connection error, timeout, 429, 5xx). Never retried once an
   * event has arrived. 1 turns retries off. Default 3.
   */
  upstreamMaxAttempts?: number;
  /** Backoff before the second attempt, in ms; doubled for each further one (capped at 8000, jittered). Default 250. */
  upstreamRetryBaseMs?: number;
  /**
   * Bytes of log one response may store (its encoded events); past it the response ends `failed`
   * (`response_too_large`) and its upstream request is aborted. Default 33554432 (32 MiB).
   */
  maxResponseBytes?: number;
  /** Events one response may store; past it the response ends `failed` (`response_too_large`). Default 200000. */
  maxResponseEvents?: number;
  /**
   * Running time of one response, in ms, from its worker's start; past it the response ends
   * `failed` (`response_time_limit`) and its upstream request is aborted. Default 3600000 (1 h).
   */
  maxResponseMs?: number;
  /**
   * Size of one upstream SSE message, in bytes, refused before it is buffered whole: the response
   * ends `failed` (`upstream_event_too_large`). A final event repeats the whole Response, so keep it
   * above the largest Response expected. Default 16777216 (16 MiB).
   */
  maxEventBytes?: number;
  /** Background responses this process runs at once (the rest wait in the queue for any worker). Default 1024. */
  concurrency?: number;
  /**
   * Longest time a response waits `queued` for a worker with capacity, in ms; after it the response
   * ends `failed` (`rate_limit_exceeded`, saying why). 0: no limit. Default 600000 (10 minutes).
   */
  maxQueueMs?: number;
  /**
   * How many times a response is claimed when its workers die before its upstream sent anything;
   * then it ends `failed` (`server_error`). Default 3.
   */
  maxClaimAttempts?: number;
  /** How often an idle worker looks at the queue, in ms (a create in the same process wakes it at once). Default 200. */
  claimIntervalMs?: number;
  /**
   * Most responses in one deployment group's queue, waiting or running; a create beyond it is
   * refused with 429 `queue_full` and leaves nothing behind. 0: no bound. Default 100000.
   */
  maxQueued?: number;
}

/**
 * Bounds on the clients that follow a response's events (`GET …?stream=true`, and a create with
 * `stream: true`), counted in this process. See docs/limits.md.
 */
export interface StreamFollowerOptions {
  /** Followers of one response at once; one more is refused with 429 `too_many_followers`. Default 100. */
  maxPerResponse?: number;
  /** Followers of one principal (key or host-app caller) at once; one more gets 429. Default 1000. */
  maxPerPrincipal?: number;
  /**
   * A follower whose client reads nothing for this many ms while its socket is full is closed, so
   * a stalled client holds no memory or socket for ever. Default 30000.
   */
  stallTimeoutMs?: number;
  /** Log entries read from the store per page: a follower holds two pages at most. Default 500. */
  pageEvents?: number;
  /** A page stops short of this many bytes of entries (one entry larger than that is a page of its own). Default 262144. */
  pageBytes?: number;
}
