// Model name patterns: one matcher for deployments, keys' allowed models and the start-up checks;
// round-robin state bounded by the configured model groups.

import { anyModelPatternMatches, isWildcard, matchModelPattern } from '../../lib/config/model-pattern';
import { findDeployments } from '../../lib/config/routing';
import { resolveOptions } from '../../lib/config/resolve';
import { modelAllowed } from '../../lib/middleware/auth';
import { MemoryStore } from '../../lib/store/memory-store';
import { orderDeployments } from '../../lib/middleware/create-context';
import { Runtime } from '../../lib/runtime';

describe('model name patterns', () => {
  test('a name matches itself; a trailing * matches any name with its prefix, and says what it stood for', () => {
    expect(matchModelPattern('gpt-4o', 'gpt-4o')).toEqual({ exact: true });
    expect(matchModelPattern('gpt-*', 'gpt-4o')).toEqual({ exact: false, prefix: 'gpt-', rest: '4o' });
    expect(matchModelPattern('gpt-*', 'gpt-')).toEqual({ exact: false, prefix: 'gpt-', rest: '' });
    expect(matchModelPattern('gpt-*', 'claude')).toBeUndefined();
    expect(matchModelPattern('gpt-4o', 'gpt-4o-mini')).toBeUndefined();
    expect(isWildcard('*')).toBe(true);
    expect(isWildcard('a*b')).toBe(false);
    expect(anyModelPatternMatches(['x', 'gpt-4o*'], 'gpt-4o')).toBe(true);
  });

  test('allowed models and deployments use the same matcher; a deployment needs a non-empty remainder', () => {
    expect(modelAllowed(['gpt-4o*'], 'gpt-4o')).toBe(true);
    expect(modelAllowed(['gpt-4o*'], 'gpt-4')).toBe(false);
    const config = resolveOptions({ models: [{ modelName: 'gpt-*', model: 'openai/gpt-*' }], store: new MemoryStore(), auth: 'none' }, {});
    expect(findDeployments(config.models, 'gpt-4o').map((d) => d.upstreamModel)).toEqual(['gpt-4o']);
    expect(findDeployments(config.models, 'gpt-')).toEqual([]);
  });
});

describe('round-robin routing state', () => {
  test('keeps one position per configured model group, however many names a wildcard matches or are refused', async () => {
    const runtime = new Runtime(
      resolveOptions(
        {
          auth: 'none',
          store: new MemoryStore(),
          routingStrategy: 'round-robin',
          models: [
            { modelName: 'gpt-*', model: 'openai/gpt-*', apiBase: 'http://a.example/v1' },
            { modelName: 'gpt-*', model: 'openai/gpt-*', apiBase: 'http://b.example/v1' },
            { modelName: 'pool', model: 'openai/pool', apiBase: 'http://a.example/v1' },
            { modelName: 'pool', model: 'openai/pool', apiBase: 'http://b.example/v1' },
          ],
        },
        {},
      ),
    );
    const bases: string[] = [];
    for (let i = 0; i < 1000; i += 1) bases.push(orderDeployments(runtime, `gpt-${i}`)[0].apiBase);
    for (let i = 0; i < 100; i += 1) expect(() => orderDeployments(runtime, `unknown-${i}`)).toThrow(/does not exist/);
    orderDeployments(runtime, 'pool');
    expect(runtime.rotations.size).toBe(2);
    // Still a rotation: the group alternates between its deployments.
    expect(bases.slice(0, 4)).toEqual(['http://a.example/v1', 'http://b.example/v1', 'http://a.example/v1', 'http://b.example/v1']);
    await runtime.close(0);
  });
});
