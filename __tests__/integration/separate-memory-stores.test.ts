// Two routers alive in one process with separate in-memory stores answer 404 for each other's
// ids: the second one to start warns, with a code, instead of leaving that silent.

import { MemoryStore } from '../../lib/store/memory-store';
import { WARNING_CODES } from '../../lib/errors';
import type { Logger } from '../../lib/types';
import { textTurnEvents } from '../helpers/event-fixtures';
import { ev, startFakeUpstream, type FakeUpstream } from '../helpers/fake-upstream';
import { startApp, waitForStatus, type TestApp } from '../helpers/app';

function capturingLogger(): Logger & { warnings: { message: string; code: unknown }[] } {
  const warnings: { message: string; code: unknown }[] = [];
  return { warnings, debug() {}, info() {}, error() {}, warn: (message, fields) => void warnings.push({ message, code: fields?.code }) };
}

describe('routers with separate in-memory stores in one process', () => {
  let upstream: FakeUpstream;
  const apps: TestApp[] = [];
  beforeEach(async () => {
    upstream = await startFakeUpstream();
    upstream.respond(() => ({ kind: 'sse', steps: textTurnEvents('hello').map((e) => ev(e)) }));
  });
  afterEach(async () => {
    await Promise.all(apps.splice(0).map((a) => a.close()));
    await upstream.close();
  });
  const start = async (store: MemoryStore, logger: Logger, prefix: string) => {
    const app = await startApp({ store, logger, auth: 'none', models: [{ modelName: 'm', model: 'openai/m', apiBase: upstream.url }] }, prefix);
    apps.push(app);
    return app;
  };
  const separateWarnings = (logger: ReturnType<typeof capturingLogger>) => logger.warnings.filter((w) => w.code === WARNING_CODES.separateMemoryStores);

  test("the second router warns with separate_memory_stores, and indeed answers 404 for the first one's ids", async () => {
    const first = capturingLogger();
    const second = capturingLogger();
    const a = await start(new MemoryStore(), first, '/a');
    const b = await start(new MemoryStore(), second, '/b');
    expect(separateWarnings(first)).toEqual([]);
    expect(separateWarnings(second)).toHaveLength(1);
    expect(separateWarnings(second)[0].message).toContain("404 for the other's response ids");

    const created = await a.client().responses.create({ model: 'm', input: 'hi', background: true });
    await waitForStatus(a.client(), created.id, 'completed');
    await expect(b.client().responses.retrieve(created.id)).rejects.toMatchObject({ status: 404 });
  });

  test('routers sharing one in-memory store do not warn, nor does a router started after the other one closed', async () => {
    const shared = new MemoryStore();
    const logger = capturingLogger();
    const a = await start(shared, logger, '/a');
    const b = await start(shared, logger, '/b');
    const created = await a.client().responses.create({ model: 'm', input: 'hi', background: true });
    expect((await waitForStatus(b.client(), created.id, 'completed')).id).toBe(created.id);
    await Promise.all(apps.splice(0).map((app) => app.close()));
    await start(new MemoryStore(), logger, '/c');
    expect(separateWarnings(logger)).toEqual([]);
  });
});
