import { sseFrame } from '../../lib/sse';

describe('SSE frames', () => {
  it('name the event on one line and carry the JSON on one data line', () => {
    expect(sseFrame('response.output_text.delta', '{"a":1}')).toBe('event: response.output_text.delta\ndata: {"a":1}\n\n');
  });

  it('keep a frame whole when the event type holds line breaks: the name gets spaces, the JSON keeps the type', () => {
    const data = JSON.stringify({ type: 'a\nb\r\nc\rd' });
    expect(sseFrame('a\nb\r\nc\rd', data)).toBe(`event: a b c d\ndata: ${data}\n\n`);
  });
});
