// Webhooks without a network: the YAML and JS configuration (os.environ/ secrets, events
// defaulting to all four, clear errors), the signature the openai client verifies, and backoff.

import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import OpenAI from 'openai';
import { ConfigError } from '../../lib/errors';
import { loadConfig } from '../../lib/config/load-config';
import { resolveOptions } from '../../lib/config/resolve';
import { silentLogger } from '../../lib/logger';
import { signatureHeaders, webhookEventBody, webhookMessageId } from '../../lib/webhooks/event';
import { backoffMs } from '../../lib/webhooks/deliverer';
import { outboxPlan } from '../../lib/webhooks/outbox-plan';
import { WEBHOOK_EVENT_TYPES } from '../../lib/webhooks/types';
import { MemoryStore } from '../../lib/store/memory-store';
import { responsesPolling } from '../../lib';
import { STORE_METHODS } from '../../lib/config/ajv';
import type { ResponseStore } from '../../lib/types';

const SECRET = 'whsec_' + Buffer.from('unit-test-secret-0123456789abcdef').toString('base64');

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'rp-webhooks-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function yamlFile(text: string): string {
  const file = path.join(dir, 'config.yaml');
  fs.writeFileSync(file, text);
  return file;
}

const MODELS = `model_list:
  - model_name: gpt-test
    litellm_params: { model: openai/gpt-4o-mini, api_key: sk-test }
`;

describe('webhook configuration', () => {
  test('YAML responses_polling.webhooks reads url, an os.environ/ secret and events (all four by default), and webhook_delivery', () => {
    const file = yamlFile(`${MODELS}responses_polling:
  webhooks:
    - url: https://hooks.example.com/all
      secret: os.environ/HOOK_SECRET
    - url: https://hooks.example.com/cancelled
      secret: ${SECRET}
      events: [response.cancelled]
  webhook_delivery:
    timeout_ms: 3000
    retry_for_ms: 600000
    max_pending: 50
`);
    const options = loadConfig(file, { env: { HOOK_SECRET: SECRET }, logger: silentLogger });
    expect(options.webhooks).toEqual([
      { url: 'https://hooks.example.com/all', secret: SECRET },
      { url: 'https://hooks.example.com/cancelled', secret: SECRET, events: ['response.cancelled'] },
    ]);
    expect(options.webhookDelivery).toEqual({ timeoutMs: 3000, retryForMs: 600000, maxPending: 50 });
    const config = resolveOptions({ ...options, store: new MemoryStore(), auth: 'none' });
    expect(config.webhooks.endpoints[0]!.events).toEqual([...WEBHOOK_EVENT_TYPES]);
    expect(config.webhooks.delivery).toMatchObject({ timeoutMs: 3000, retryForMs: 600000, maxPending: 50, concurrency: 8, backoffBaseMs: 5000 });
  });

  test('an unset os.environ/ secret is an error naming the path, never a webhook without a secret', () => {
    const file = yamlFile(`${MODELS}responses_polling:
  webhooks:
    - url: https://hooks.example.com/all
      secret: os.environ/UNSET_HOOK_SECRET
`);
    expect(() => loadConfig(file, { env: {}, logger: silentLogger })).toThrow(/responses_polling\.webhooks\[0\].*secret/);
  });

  test('bad values are refused with the path and the fix, and the secret is never echoed', () => {
    const bad = () =>
      resolveOptions({
        webhooks: [
          { url: 'ftp://example.com', secret: SECRET },
          { url: 'https://example.com', secret: 'plain-text-secret-value' },
          { url: 'https://example.com', secret: SECRET, events: ['response.created' as never] },
        ],
        webhookDelivery: { concurrency: 0 },
      });
    expect(bad).toThrow(ConfigError);
    try {
      bad();
    } catch (err) {
      const text = (err as ConfigError).problems.join('\n');
      expect(text).toMatch(/webhooks\[0\]\.url/);
      expect(text).toMatch(/webhooks\[1\]\.secret.*whsec_/);
      expect(text).toMatch(/webhooks\[2\]\.events/);
      expect(text).toMatch(/webhookDelivery\.concurrency/);
      expect(text).not.toContain('plain-text-secret-value');
    }
  });

  test('a router with webhooks on a store without an outbox fails at start-up saying why', async () => {
    const memory = new MemoryStore();
    const bare = Object.fromEntries(
      STORE_METHODS.map(
        (m) => [m, (...args: unknown[]) => (memory as unknown as Record<string, (...a: unknown[]) => unknown>)[m]!(...args)],
      ),
    ) as unknown as ResponseStore;
    expect(() => responsesPolling({ store: bare, auth: 'none', logger: silentLogger, webhooks: [{ url: 'https://a.example', secret: SECRET }] })).toThrow(
      /no webhook outbox/,
    );
    await memory.close();
  });

  test('the plan routes each status to the endpoints that list its event type', () => {
    const plan = outboxPlan(
      [
        { url: 'https://a', secret: SECRET, events: [...WEBHOOK_EVENT_TYPES] },
        { url: 'https://b', secret: SECRET, events: ['response.failed', 'response.cancelled'] },
      ],
      1000,
      10,
    );
    expect(plan.routes).toEqual({ completed: [0], failed: [0, 1], cancelled: [0, 1], incomplete: [0] });
  });
});

describe('webhook signature and backoff', () => {
  test('a signed event is verified by the openai client, and a tampered body or another secret is refused', async () => {
    const body = webhookEventBody('completed', 'resp_abc', 'evt_0123', Math.floor(Date.now() / 1000));
    const headers = signatureHeaders(SECRET, webhookMessageId('evt_0123'), body, Date.now() / 1000);
    expect(headers['webhook-id']).toBe('wh_0123');
    const client = new OpenAI({ apiKey: 'unused' });
    expect(await client.webhooks.unwrap(body, headers, SECRET)).toEqual({
      id: 'evt_0123',
      object: 'event',
      type: 'response.completed',
      created_at: expect.any(Number),
      data: { id: 'resp_abc' },
    });
    await expect(client.webhooks.unwrap(body.replace('resp_abc', 'resp_xyz'), headers, SECRET)).rejects.toThrow(/signature/);
    await expect(client.webhooks.unwrap(body, headers, 'whsec_' + Buffer.from('other-secret-0123456789').toString('base64'))).rejects.toThrow(/signature/);
  });

  test('backoff doubles from the base up to the cap, with jitter between half and all of it', () => {
    expect(backoffMs(1, 1000, 60000, () => 1)).toBe(1000);
    expect(backoffMs(2, 1000, 60000, () => 1)).toBe(2000);
    expect(backoffMs(4, 1000, 60000, () => 0)).toBe(4000);
    expect(backoffMs(30, 1000, 60000, () => 1)).toBe(60000);
    expect(backoffMs(500, 1000, 60000, () => 0.5)).toBe(45000);
  });
});
