// The errors of a failed Response: OpenAI's codes, our detail leading the message, and reading it back.

import { conformUpstreamError, ERROR_DETAILS, errorDetailOf, isResponseErrorCode, responseError } from '../../lib/response-vocabulary';

describe('the errors of a failed Response', () => {
  it('gives each of our details an enum code: rate_limit_exceeded where capacity ran out, server_error otherwise', () => {
    expect(responseError(ERROR_DETAILS.upstreamRateLimited, 'Slow down.')).toEqual({ code: 'rate_limit_exceeded', message: 'upstream_rate_limited: Slow down.' });
    expect(responseError(ERROR_DETAILS.queueTimeout, 'Waited.')).toEqual({ code: 'rate_limit_exceeded', message: 'queue_timeout: Waited.' });
    for (const detail of Object.values(ERROR_DETAILS)) {
      const error = responseError(detail, 'Text.');
      expect(isResponseErrorCode(error.code)).toBe(true);
      expect(errorDetailOf(error)).toBe(detail);
    }
  });

  it("keeps an upstream's enum code and message as they are", () => {
    expect(conformUpstreamError('invalid_prompt', 'Your prompt was flagged.')).toEqual({ code: 'invalid_prompt', message: 'Your prompt was flagged.' });
    expect(errorDetailOf({ code: 'invalid_prompt', message: 'Your prompt was flagged.' })).toBe('invalid_prompt');
  });

  it("puts any other upstream code ahead of the message, or upstream_error when it is missing or no token", () => {
    expect(conformUpstreamError('context_length_exceeded', 'Too long.')).toEqual({ code: 'server_error', message: 'context_length_exceeded: Too long.' });
    expect(conformUpstreamError(null, 'Broke.')).toEqual({ code: 'server_error', message: 'upstream_error: Broke.' });
    expect(conformUpstreamError(500, 'Broke.')).toEqual({ code: 'server_error', message: 'upstream_error: Broke.' });
    expect(conformUpstreamError('Bearer [redacted]', 'Broke.')).toEqual({ code: 'server_error', message: 'upstream_error: Broke.' });
  });

  it('is idempotent, so a fold may apply it to an error it already made', () => {
    const once = conformUpstreamError('overloaded', 'Busy.');
    expect(conformUpstreamError(once.code, once.message)).toEqual(once);
    const ours = responseError(ERROR_DETAILS.workerLost, 'Gone.');
    expect(conformUpstreamError(ours.code, ours.message)).toEqual(ours);
  });

  it('reads no detail where there is no error', () => {
    expect(errorDetailOf(null)).toBeUndefined();
    expect(errorDetailOf(undefined)).toBeUndefined();
  });
});
