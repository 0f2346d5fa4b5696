// Model name patterns, stated once: a name matches itself, and a pattern ending in `*` matches every
// name that starts with the part before the `*` (deployments, allowed models of keys and principals).

/** Whether `pattern` is a wildcard (ends in `*`). */
export function isWildcard(pattern: string): boolean {
  return pattern.endsWith('*');
}

/**
 * How `pattern` matches `name`: `{ exact: true }`, `{ exact: false, prefix, rest }` for a wildcard
 * (`rest`, what the `*` stands for, may be empty), or undefined when it does not match.
 */
export function matchModelPattern(pattern: string, name: string): { exact: true } | { exact: false; prefix: string; rest: string } | undefined {
  if (pattern === name) return { exact: true };
  if (!isWildcard(pattern)) return undefined;
  const prefix = pattern.slice(0, -1);
  return name.startsWith(prefix) ? { exact: false, prefix, rest: name.slice(prefix.length) } : undefined;
}

/** Whether any of `patterns` matches `name`. */
export function anyModelPatternMatches(patterns: readonly string[], name: string): boolean {
  return patterns.some((p) => matchModelPattern(p, name) !== undefined);
}
