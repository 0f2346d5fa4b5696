// Webhook options resolved into their configuration: defaults applied, `events` filled in.

import { WEBHOOK_EVENT_TYPES, type WebhookDeliveryOptions, type WebhookOptions, type WebhooksConfig } from './types';

/** The delivery defaults (the TSDoc of {@link WebhookDeliveryOptions} states the same values). */
export const WEBHOOK_DELIVERY_DEFAULTS: Required<WebhookDeliveryOptions> = {
  timeoutMs: 10_000,
  retryForMs: 86_400_000,
  backoffBaseMs: 5_000,
  backoffMaxMs: 3_600_000,
  maxPending: 10_000,
  concurrency: 8,
  pollIntervalMs: 1_000,
};

/** Resolves validated webhook options. */
export function resolveWebhooks(webhooks: WebhookOptions[] | undefined, delivery: WebhookDeliveryOptions | undefined): WebhooksConfig {
  const defined = Object.fromEntries(Object.entries(delivery ?? {}).filter(([, v]) => v !== undefined));
  return {
    endpoints: (webhooks ?? []).map((w) => ({ url: w.url, secret: w.secret, events: [...(w.events ?? WEBHOOK_EVENT_TYPES)] })),
    delivery: { ...WEBHOOK_DELIVERY_DEFAULTS, ...defined },
  };
}
