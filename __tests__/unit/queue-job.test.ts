// The job a create enqueues and a worker reads back: deployments by reference (never a key),
// wildcard names kept, the continuation's holder kept, capacity slots, and unreadable jobs.

import { resolveOptions } from '../../lib/config/resolve';
import { findDeployments } from '../../lib/config/routing';
import { enqueueInput, queueGroups, readJob } from '../../lib/queue/job';
import { MemoryStore } from '../../lib/store/memory-store';

const config = resolveOptions({
  auth: 'none',
  store: new MemoryStore(),
  models: [
    { modelName: 'gpt-small', model: 'openai/gpt-4o-mini', apiBase: 'http://a.example/v1', apiKey: 'sk-secret-a', maxParallelRequests: 2 },
    { modelName: 'gpt-small', model: 'openai/gpt-4o-mini', apiBase: 'http://b.example/v1', apiKey: 'sk-secret-b' },
    { modelName: 'vendor/*', model: 'openai/*', apiBase: 'http://c.example/v1', apiKey: 'sk-secret-c' },
  ],
});

describe('the queue job', () => {
  test('names its deployments without their keys and reads them back with the keys of this configuration', () => {
    const deployments = findDeployments(config.models, 'gpt-small');
    const q = enqueueInput(config, { owner: 'owner-1', request: { model: 'gpt-small', input: 'hi' }, deployments });
    expect(q).toMatchObject({ group: 'gpt-small', principal: 'owner-1', slotLimit: 2, maxWaitMs: config.worker.maxQueueMs });
    expect(q.slot).not.toBe('');
    expect(q.job).not.toContain('sk-secret');
    const job = readJob(config, q.job);
    expect(job!.deployments.map((d) => d.apiKey)).toEqual(['sk-secret-a', 'sk-secret-b']);
    expect(job!.request).toEqual({ model: 'gpt-small', input: 'hi' });
  });

  test('a deployment without max_parallel_requests takes no capacity slot', () => {
    const [second] = findDeployments(config.models, 'gpt-small').slice(1);
    const q = enqueueInput(config, { owner: 'o', request: { model: 'gpt-small', input: 'x' }, deployments: [second] });
    expect(q).toMatchObject({ slot: '', slotLimit: 0 });
  });

  test('a wildcard match keeps the model names it filled in, and a continuation keeps its holder', () => {
    const deployments = findDeployments(config.models, 'vendor/model-x');
    const continuation = { previousId: 'resp_prev', held: { deployment: deployments[0], upstreamId: 'up_1' }, expanded: [{ role: 'user', content: 'before' }] };
    const q = enqueueInput(config, { owner: 'o', request: { model: 'vendor/model-x', input: 'x' }, deployments, continuation, requestId: 'req-1' });
    expect(q.group).toBe('vendor/*');
    const job = readJob(config, q.job)!;
    expect(job.deployments[0]).toMatchObject({ upstreamModel: 'model-x', apiKey: 'sk-secret-c' });
    expect(job.continuation).toEqual({ ...continuation, held: { deployment: job.deployments[0], upstreamId: 'up_1' } });
    expect(job.requestId).toBe('req-1');
  });

  test('a job that is not JSON, of another version, or whose deployments are all gone cannot be read', () => {
    expect(readJob(config, 'not json')).toBeNull();
    expect(readJob(config, JSON.stringify({ v: 2, request: {}, deployments: [] }))).toBeNull();
    const other = resolveOptions({ auth: 'none', store: new MemoryStore(), models: [{ modelName: 'other', model: 'openai/x', apiBase: 'http://z.example/v1' }] });
    const q = enqueueInput(config, { owner: 'o', request: { model: 'gpt-small', input: 'x' }, deployments: findDeployments(config.models, 'gpt-small') });
    expect(readJob(other, q.job)).toBeNull();
  });

  test('a worker claims from every deployment group of its configuration, once each', () => {
    expect(queueGroups(config)).toEqual(['gpt-small', 'vendor/*']);
  });
});
