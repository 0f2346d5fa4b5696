// The caps on one response's log: bytes and events stored, and running time; what a response
// that reaches one ends with.

import type { ResponsesPollingConfig } from '../config/options';
import { ERROR_DETAILS, responseError } from '../response-vocabulary';
import type { ResponseErrorObject } from '../response-types';

/** The worker tuning the caps use. */
export type LimitTuning = Pick<ResponsesPollingConfig['worker'], 'maxResponseBytes' | 'maxResponseEvents' | 'maxResponseMs'>;

/** The error a response ends with when it reached a cap. */
export type LimitBreach = ResponseErrorObject;

/** Counts what one response has logged, against its caps. */
export class ResponseLimits {
  private bytes = 0;
  private events = 0;

  constructor(private readonly tuning: LimitTuning) {}

  /** Counts one logged event of `bytes` (encoded). */
  count(bytes: number): void {
    this.bytes += bytes;
    this.events += 1;
  }

  /** The cap the log has reached, if any (checked after each upstream message). */
  breach(): LimitBreach | undefined {
    const t = this.tuning;
    if (this.bytes >= t.maxResponseBytes) {
      return responseError(ERROR_DETAILS.responseTooLarge, `The response reached its size limit (${t.maxResponseBytes} bytes stored)`);
    }
    if (this.events >= t.maxResponseEvents) {
      return responseError(ERROR_DETAILS.responseTooLarge, `The response reached its limit of ${t.maxResponseEvents} events`);
    }
    return undefined;
  }

  /** The error of a response still running when its time limit passed. */
  timeLimit(): LimitBreach {
    return responseError(ERROR_DETAILS.responseTimeLimit, `The response ran longer than its limit of ${this.tuning.maxResponseMs} ms`);
  }
}
