// OpenAI-style rate-limit headers from a limiter's state.

import type { RateState } from './types';

/** A duration as OpenAI writes it in `x-ratelimit-reset-*`: `12ms`, `1s`, `6m0s`. */
export function formatResetDuration(ms: number): string {
  const whole = Math.max(0, Math.ceil(ms));
  if (whole < 1000) return `${whole}ms`;
  const seconds = Math.ceil(whole / 1000);
  if (seconds < 60) return `${seconds}s`;
  return `${Math.floor(seconds / 60)}m${seconds % 60}s`;
}

/** `x-ratelimit-limit|remaining|reset-requests|tokens` for the limits that apply. */
export function rateLimitHeaders(state: RateState): Record<string, string> {
  const headers: Record<string, string> = {};
  if (state.limitRequests !== undefined) headers['x-ratelimit-limit-requests'] = String(state.limitRequests);
  if (state.remainingRequests !== undefined) headers['x-ratelimit-remaining-requests'] = String(Math.max(0, state.remainingRequests));
  if (state.resetRequestsMs !== undefined) headers['x-ratelimit-reset-requests'] = formatResetDuration(state.resetRequestsMs);
  if (state.limitTokens !== undefined) headers['x-ratelimit-limit-tokens'] = String(state.limitTokens);
  if (state.remainingTokens !== undefined) headers['x-ratelimit-remaining-tokens'] = String(Math.max(0, state.remainingTokens));
  if (state.resetTokensMs !== undefined) headers['x-ratelimit-reset-tokens'] = formatResetDuration(state.resetTokensMs);
  return headers;
}
