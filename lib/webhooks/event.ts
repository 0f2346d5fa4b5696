// The webhook event of a terminal transition, as OpenAI sends it for background responses, and
// its Standard Webhooks signature (what the openai client's `webhooks.unwrap` verifies).

import { createHmac, randomBytes } from 'node:crypto';
import type { WebhookStatus } from './types';

/** A new event id, `evt_` and 128 random bits in hex. */
export function newEventId(): string {
  return `evt_${randomBytes(16).toString('hex')}`;
}

/**
 * The event JSON for response `responseId` reaching `status`:
 * `{id, object: "event", type: "response.<status>", created_at, data: {id}}`. `createdAt` is in
 * epoch seconds.
 */
export function webhookEventBody(status: WebhookStatus, responseId: string, eventId: string, createdAt: number): string {
  return JSON.stringify({ id: eventId, object: 'event', type: `response.${status}`, created_at: createdAt, data: { id: responseId } });
}

/** The `webhook-id` header of an event: the same on every attempt, so receivers can deduplicate. */
export function webhookMessageId(eventId: string): string {
  return `wh_${eventId.replace(/^evt_/, '')}`;
}

/**
 * The key bytes of a secret, as the openai client reads it: the base64 after `whsec_`, or the
 * string itself (UTF-8) without that prefix.
 */
function secretKey(secret: string): Buffer {
  return secret.startsWith('whsec_') ? Buffer.from(secret.slice('whsec_'.length), 'base64') : Buffer.from(secret, 'utf8');
}

/**
 * The headers of one delivery attempt: `webhook-id`, `webhook-timestamp` (epoch seconds, of
 * this attempt) and `webhook-signature` = `v1,` + base64 HMAC-SHA256 of `id.timestamp.body`.
 */
export function signatureHeaders(secret: string, messageId: string, body: string, timestampSeconds: number): Record<string, string> {
  const timestamp = String(Math.floor(timestampSeconds));
  const signature = createHmac('sha256', secretKey(secret)).update(`${messageId}.${timestamp}.${body}`).digest('base64');
  return { 'webhook-id': messageId, 'webhook-timestamp': timestamp, 'webhook-signature': `v1,${signature}` };
}
