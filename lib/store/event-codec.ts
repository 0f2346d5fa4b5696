// How events are written to and read from the event log. One module, so the encoding can change
// without touching the stores or the worker.

import type { ResponseStreamEvent } from '../types';

/**
 * Encodes an event for the log. `obfuscation` is random padding against side channels on the
 * wire; it carries no data and the API allows dropping it, so it is not stored.
 */
export function encodeEvent(event: ResponseStreamEvent): string {
  if ('obfuscation' in event) {
    const { obfuscation: _dropped, ...rest } = event;
    return JSON.stringify(rest);
  }
  return JSON.stringify(event);
}

/** Decodes one log entry. */
export function decodeEvent(encoded: string): ResponseStreamEvent {
  return JSON.parse(encoded) as ResponseStreamEvent;
}
