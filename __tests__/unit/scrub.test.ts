// Scrubbing upstream text of secrets: error fields (extra ones dropped), the deployment's key deep
// inside a value, and a relayed body whose key is split across chunks.

import { keyInJson, KeyScrubber, redactSecrets, scrubErrorFields, scrubKey } from '../../lib/upstream/scrub';

const KEY = 'plain-deploy-key-7f3a9c2e';

describe('scrubbing upstream secrets', () => {
  test('error fields keep only message, code, param and type, each scrubbed', () => {
    const scrubbed = scrubErrorFields({ message: `no ${KEY}`, code: `Bearer ${KEY}`, param: 'Bearer abc.def', type: 'x', extra: KEY }, { apiKey: KEY }, 'fallback');
    expect(scrubbed).toEqual({ message: 'no [redacted]', code: 'Bearer [redacted]', param: 'Bearer [redacted]', type: 'x' });
    expect(scrubErrorFields({ code: null, param: null }, undefined, 'fallback')).toEqual({ message: 'fallback', code: null, param: null });
  });

  test('redactSecrets removes provider-style keys and bearer tokens without a deployment', () => {
    expect(redactSecrets('key sk-abcdef123456 and Bearer tok.en')).toBe('key [redacted] and Bearer [redacted]');
  });

  test('scrubKey removes the key from every string and object key, and returns the value itself when it is absent', () => {
    const clean = { a: ['x', { b: 'y' }], c: 1 };
    expect(scrubKey(clean, KEY)).toBe(clean);
    const dirty = { a: ['x', { b: `y${KEY}` }], [KEY]: KEY, c: 1 };
    const out = scrubKey(dirty, KEY);
    expect(out).toEqual({ a: ['x', { b: 'y[redacted]' }], '[redacted]': '[redacted]', c: 1 });
    expect(dirty.a[1]).toEqual({ b: `y${KEY}` });
    expect(scrubKey(dirty, undefined)).toBe(dirty);
  });

  test('keyInJson clears only a JSON text that cannot parse to a string holding the key', () => {
    const mayHold = keyInJson(KEY);
    expect(mayHold(JSON.stringify({ delta: 'plain text', logprobs: [] }))).toBe(false);
    expect(mayHold(JSON.stringify({ delta: 'a "quote"\nand a line' }))).toBe(false);
    expect(mayHold(JSON.stringify({ delta: `x${KEY}y` }))).toBe(true);
    expect(mayHold(JSON.stringify({ [KEY]: 1 }))).toBe(true);
    // Any \u escape may write a character of the key.
    const escaped = `{"delta":"${[...KEY].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"}`;
    expect((JSON.parse(escaped) as { delta: string }).delta).toBe(KEY);
    expect(mayHold(escaped)).toBe(true);
    // A key with a character JSON may also escape as \/ is never cleared; a placeholder key always is.
    expect(keyInJson('plain-deploy/key-7f3a9c2e')('{"delta":"plain"}')).toBe(true);
    expect(keyInJson('EMPTY')(JSON.stringify({ delta: 'EMPTY' }))).toBe(false);
    expect(keyInJson(undefined)('{}')).toBe(false);
  });

  test('KeyScrubber finds a key split across chunks and holds back only a tail that could begin it', () => {
    const scrubber = new KeyScrubber(KEY);
    const text = `one ${KEY} two ${KEY}`;
    const out: string[] = [];
    for (let i = 0; i < text.length; i += 3) out.push(Buffer.from(scrubber.push(Buffer.from(text.slice(i, i + 3)))).toString());
    out.push(Buffer.from(scrubber.end()).toString());
    expect(out.join('')).toBe('one [redacted] two [redacted]');
    // A chunk that ends an SSE event is sent whole: nothing in it could begin the key.
    const frame = Buffer.from('data: {}\n\n');
    expect(Buffer.from(new KeyScrubber(KEY).push(frame)).toString()).toBe('data: {}\n\n');
    // A tail that begins the key but turns out not to be it is sent with the next chunk.
    const partial = new KeyScrubber(KEY);
    expect(Buffer.from(partial.push(Buffer.from('x plain-'))).toString()).toBe('x ');
    expect(Buffer.from(partial.push(Buffer.from('text'))).toString()).toBe('plain-text');
  });
});

describe('placeholder keys', () => {
  test('a short placeholder key (EMPTY, ollama) is not removed from success bodies, only from error text', () => {
    const body = { output: 'the cupboard is EMPTY' };
    expect(scrubKey(body, 'EMPTY')).toBe(body);
    expect(Buffer.from(new KeyScrubber('EMPTY').push(Buffer.from('EMPTY'))).toString()).toBe('EMPTY');
    expect(redactSecrets('key EMPTY refused', { apiKey: 'EMPTY' })).toBe('key [redacted] refused');
  });
});
