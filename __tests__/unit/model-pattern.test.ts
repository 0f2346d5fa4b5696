// Model name patterns: one matcher for deployments, keys' allowed models and the start-up checks.

import { anyModelPatternMatches, isWildcard, matchModelPattern } from '../../lib/config/model-pattern';
import { findDeployments } from '../../lib/config/routing';
import { resolveOptions } from '../../lib/config/resolve';
import { modelAllowed } from '../../lib/middleware/auth';
import { MemoryStore } from '../../lib/store/memory-store';

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
