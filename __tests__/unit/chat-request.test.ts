import { ApiError } from '../../lib/errors';
import { checkCreateBody, type CreateResponseBody } from '../../lib/middleware/create-request';
import { toChatCompletionsRequest } from '../../lib/upstream/chat-request';

/** Validates `body` as the create handler does, then maps it; fails the test on a 400. */
function mapOk(body: Record<string, unknown>, upstreamModel = 'llama-3.1-8b'): Record<string, unknown> {
  const checked = checkCreateBody({ model: 'gpt-4o-mini', ...body });
  if (checked instanceof ApiError) throw new Error(`create body refused: ${checked.message}`);
  const result = toChatCompletionsRequest(checked, upstreamModel);
  if (result instanceof ApiError) throw new Error(`mapping refused: ${result.message}`);
  return result.body;
}

/** Maps `body` and returns the 400 it must produce. */
function mapRefused(body: Record<string, unknown>): ApiError {
  const result = toChatCompletionsRequest({ model: 'gpt-4o-mini', ...body } as CreateResponseBody, 'llama-3.1-8b');
  if (!(result instanceof ApiError)) throw new Error(`expected a refusal, got ${JSON.stringify(result.body)}`);
  return result;
}

describe('toChatCompletionsRequest: the envelope', () => {
  it('sends the upstream model, stream true and include_usage whatever the client asked', () => {
    const body = mapOk({ input: 'Hi', stream: false, background: true, store: true, metadata: { a: 'b' } }, 'qwen2.5:7b');
    expect(body).toEqual({
      model: 'qwen2.5:7b',
      messages: [{ role: 'user', content: 'Hi' }],
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('keeps background, store, metadata and stream_options out of the chat body', () => {
    const body = mapOk({ input: 'Hi', background: true, store: true, metadata: { k: 'v' }, stream_options: { include_obfuscation: false } });
    expect(Object.keys(body).sort()).toEqual(['messages', 'model', 'stream', 'stream_options']);
    expect(body.stream_options).toEqual({ include_usage: true });
  });

  it('does not mutate the body it maps', () => {
    const input = [{ type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' }];
    const original = { model: 'm', input, tools: [{ type: 'function', name: 'f', parameters: { type: 'object' } }] };
    const copy = JSON.parse(JSON.stringify(original));
    mapOk(original);
    expect(original).toEqual(copy);
  });
});

describe('toChatCompletionsRequest: instructions and input', () => {
  it('turns instructions into a leading system message and a string input into one user message', () => {
    expect(mapOk({ instructions: 'Be brief.', input: 'What is 2+2?' }).messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'What is 2+2?' },
    ]);
  });

  it('maps message items with string and part content, developer becoming system', () => {
    const messages = mapOk({
      input: [
        { role: 'developer', content: 'Answer in French.' },
        { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Bonjour' }] },
        { type: 'message', id: 'msg_1', status: 'completed', role: 'assistant', content: [{ type: 'output_text', text: 'Salut', annotations: [], logprobs: [] }] },
        { role: 'system', content: 'Stay polite.' },
        { role: 'user', content: 'Merci' },
      ],
    }).messages;
    expect(messages).toEqual([
      { role: 'system', content: 'Answer in French.' },
      { role: 'user', content: 'Bonjour' },
      { role: 'assistant', content: 'Salut' },
      { role: 'system', content: 'Stay polite.' },
      { role: 'user', content: 'Merci' },
    ]);
  });

  it('keeps several parts as a part list and maps images given by URL, with their detail', () => {
    const messages = mapOk({
      input: [
        {
          role: 'user',
          content: [
            { type: 'input_text', text: 'What is in these pictures?' },
            { type: 'input_image', image_url: 'https://example.com/a.png', detail: 'low' },
            { type: 'input_image', image_url: 'data:image/png;base64,AAAA' },
          ],
        },
      ],
    }).messages;
    expect(messages).toEqual([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is in these pictures?' },
          { type: 'image_url', image_url: { url: 'https://example.com/a.png', detail: 'low' } },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } },
        ],
      },
    ]);
  });

  it('maps an instructions item list like input items', () => {
    expect(mapOk({ instructions: [{ role: 'developer', content: 'Be brief.' }], input: 'Hi' }).messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
    ]);
  });

  it('merges consecutive function calls, with the assistant text before them, into one assistant message', () => {
    const messages = mapOk({
      input: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Let me check.' }] },
        { type: 'function_call', id: 'fc_1', call_id: 'call_a', name: 'weather', arguments: '{"city":"Paris"}', status: 'completed' },
        { type: 'function_call', id: 'fc_2', call_id: 'call_b', name: 'weather', arguments: '{"city":"Rome"}', status: 'completed' },
        { type: 'function_call_output', call_id: 'call_a', output: '18C' },
        { type: 'function_call_output', call_id: 'call_b', output: [{ type: 'input_text', text: '24C' }] },
      ],
    }).messages;
    expect(messages).toEqual([
      { role: 'user', content: 'Weather in Paris and Rome?' },
      {
        role: 'assistant',
        content: 'Let me check.',
        tool_calls: [
          { id: 'call_a', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
          { id: 'call_b', type: 'function', function: { name: 'weather', arguments: '{"city":"Rome"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_a', content: '18C' },
      { role: 'tool', tool_call_id: 'call_b', content: '24C' },
    ]);
  });

  it('starts an assistant message with null content for a function call that follows a user message', () => {
    const messages = mapOk({
      input: [
        { role: 'user', content: 'Time?' },
        { type: 'function_call', call_id: 'call_t', name: 'now', arguments: '{}' },
        { type: 'function_call_output', call_id: 'call_t', output: '12:00' },
        { type: 'function_call', call_id: 'call_u', name: 'now', arguments: '{}' },
      ],
    }).messages;
    expect(messages).toEqual([
      { role: 'user', content: 'Time?' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_t', type: 'function', function: { name: 'now', arguments: '{}' } }] },
      { role: 'tool', tool_call_id: 'call_t', content: '12:00' },
      { role: 'assistant', content: null, tool_calls: [{ id: 'call_u', type: 'function', function: { name: 'now', arguments: '{}' } }] },
    ]);
  });

  it('skips reasoning items passed back from an earlier output', () => {
    const messages = mapOk({
      input: [
        { role: 'user', content: 'Hi' },
        { type: 'reasoning', id: 'rs_1', summary: [], content: [{ type: 'reasoning_text', text: 'thinking' }] },
        { type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Hello' }] },
      ],
    }).messages;
    expect(messages).toEqual([
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello' },
    ]);
  });

  it('sends an earlier refusal back as assistant text', () => {
    const messages = mapOk({ input: [{ type: 'message', role: 'assistant', content: [{ type: 'refusal', refusal: 'I cannot help.' }] }] }).messages;
    expect(messages).toEqual([{ role: 'assistant', content: 'I cannot help.' }]);
  });

  it.each([
    ['an item_reference', { type: 'item_reference', id: 'msg_1' }, 'input[1].type'],
    ['a file_search_call', { type: 'file_search_call', id: 'fs_1', queries: [], status: 'completed' }, 'input[1].type'],
    ['a web_search_call', { type: 'web_search_call', id: 'ws_1', status: 'completed' }, 'input[1].type'],
    ['an input_file part', { role: 'user', content: [{ type: 'input_text', text: 'x' }, { type: 'input_file', file_id: 'file-1' }] }, 'input[1].content[1].type'],
    ['an input_audio part', { role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }] }, 'input[1].content[0].type'],
    ['an image in a system message', { role: 'system', content: [{ type: 'input_image', image_url: 'https://example.com/a.png' }] }, 'input[1].content[0].type'],
    ['an image given by file_id', { role: 'user', content: [{ type: 'input_image', file_id: 'file-1' }] }, 'input[1].content[0].image_url'],
    ['an image in a tool output', { type: 'function_call_output', call_id: 'c', output: [{ type: 'input_image', image_url: 'https://x/y.png' }] }, 'input[1].output[0].type'],
    ['an unknown role', { role: 'tool', content: 'x' }, 'input[1].role'],
    ['a function call without call_id', { type: 'function_call', name: 'f', arguments: '{}' }, 'input[1].call_id'],
  ])('refuses %s with a 400 naming the exact path', (_what, item, param) => {
    const err = mapRefused({ input: [{ role: 'user', content: 'Hi' }, item] });
    expect(err.status).toBe(400);
    expect(err.type).toBe('invalid_request_error');
    expect(err.param).toBe(param);
    expect(err.toBody().error.message).toEqual(expect.any(String));
  });

  it('says that the deployment speaks Chat Completions only when it refuses an item type', () => {
    const err = mapRefused({ input: [{ type: 'item_reference', id: 'msg_1' }] });
    expect(err.message).toMatch(/Chat Completions only/);
    expect(err.code).toBe('unsupported_value');
  });

  it('refuses a request with no message at all', () => {
    const err = mapRefused({ input: [] });
    expect(err.param).toBe('input');
    expect(err.code).toBe('missing_required_parameter');
  });
});

describe('toChatCompletionsRequest: sampling, limits and identity fields', () => {
  it('maps max_output_tokens to max_tokens and copies temperature, top_p, user and the cache and safety keys', () => {
    const body = mapOk({
      input: 'Hi',
      max_output_tokens: 256,
      temperature: 0.2,
      top_p: 0.9,
      user: 'u-1',
      safety_identifier: 'hash-1',
      prompt_cache_key: 'k-1',
      service_tier: 'auto',
    });
    expect(body).toMatchObject({ max_tokens: 256, temperature: 0.2, top_p: 0.9, user: 'u-1', safety_identifier: 'hash-1', prompt_cache_key: 'k-1', service_tier: 'auto' });
    expect(body).not.toHaveProperty('max_output_tokens');
    expect(body).not.toHaveProperty('max_completion_tokens');
  });

  it('omits fields sent as null, which mean the default', () => {
    const body = mapOk({ input: 'Hi', temperature: null, top_p: null, max_output_tokens: null, instructions: null, reasoning: null, truncation: null, top_logprobs: null });
    expect(Object.keys(body).sort()).toEqual(['messages', 'model', 'stream', 'stream_options']);
  });

  it('accepts truncation disabled, top_logprobs 0 and an empty include, which change nothing', () => {
    const body = mapOk({ input: 'Hi', truncation: 'disabled', top_logprobs: 0, include: [] });
    expect(Object.keys(body).sort()).toEqual(['messages', 'model', 'stream', 'stream_options']);
  });

  it('maps reasoning.effort to reasoning_effort', () => {
    expect(mapOk({ input: 'Hi', reasoning: { effort: 'low', summary: null } }).reasoning_effort).toBe('low');
  });

  it.each([
    ['previous_response_id', { previous_response_id: 'resp_1' }, 'previous_response_id'],
    ['conversation', { conversation: 'conv_1' }, 'conversation'],
    ['prompt', { prompt: { id: 'pmpt_1' } }, 'prompt'],
    ['truncation auto', { truncation: 'auto' }, 'truncation'],
    ['a non-empty include', { include: ['reasoning.encrypted_content'] }, 'include'],
    ['top_logprobs above 0', { top_logprobs: 3 }, 'top_logprobs'],
    ['max_tool_calls', { max_tool_calls: 2 }, 'max_tool_calls'],
    ['reasoning summaries', { reasoning: { effort: 'low', summary: 'auto' } }, 'reasoning.summary'],
    ['an unknown field', { top_k: 40 }, 'top_k'],
    ['an unknown text option', { text: { format: { type: 'text' }, foo: 1 } }, 'text.foo'],
  ])('refuses %s with a 400 that names the field and says why', (_what, fields, param) => {
    const err = mapRefused({ input: 'Hi', ...fields });
    expect(err.status).toBe(400);
    expect(err.param).toBe(param);
    expect(err.message).toMatch(/Chat Completions only/);
  });
});

describe('toChatCompletionsRequest: tools, tool_choice and output format', () => {
  const weather = { type: 'function', name: 'weather', description: 'Current weather', parameters: { type: 'object', properties: { city: { type: 'string' } } }, strict: true };

  it('maps function tools to the nested chat shape, with parallel_tool_calls', () => {
    const body = mapOk({ input: 'Hi', tools: [weather, { type: 'function', name: 'now' }], parallel_tool_calls: false });
    expect(body.tools).toEqual([
      { type: 'function', function: { name: 'weather', description: 'Current weather', parameters: weather.parameters, strict: true } },
      { type: 'function', function: { name: 'now' } },
    ]);
    expect(body.parallel_tool_calls).toBe(false);
  });

  it('sends neither parallel_tool_calls nor the default tool_choice without tools', () => {
    const body = mapOk({ input: 'Hi', tools: [], parallel_tool_calls: true, tool_choice: 'auto' });
    expect(body).not.toHaveProperty('tools');
    expect(body).not.toHaveProperty('parallel_tool_calls');
    expect(body).not.toHaveProperty('tool_choice');
  });

  it.each([
    ['auto', 'auto'],
    ['none', 'none'],
    ['required', 'required'],
    [{ type: 'function', name: 'weather' }, { type: 'function', function: { name: 'weather' } }],
  ])('maps tool_choice %j', (choice, expected) => {
    expect(mapOk({ input: 'Hi', tools: [weather], tool_choice: choice }).tool_choice).toEqual(expected);
  });

  it.each(['web_search', 'web_search_preview', 'file_search', 'mcp', 'code_interpreter', 'custom'])('refuses a %s tool naming tools[i].type', (type) => {
    const err = mapRefused({ input: 'Hi', tools: [weather, { type }] });
    expect(err.param).toBe('tools[1].type');
    expect(err.message).toContain(`'${type}'`);
  });

  it.each([
    [{ type: 'allowed_tools', mode: 'auto', tools: [] }, 'tool_choice.type'],
    [{ type: 'file_search' }, 'tool_choice.type'],
    ['sometimes', 'tool_choice'],
  ])('refuses tool_choice %j', (choice, param) => {
    expect(mapRefused({ input: 'Hi', tools: [weather], tool_choice: choice }).param).toBe(param);
  });

  it('maps a json_schema text format to response_format', () => {
    const schema = { type: 'object', properties: { a: { type: 'string' } }, required: ['a'], additionalProperties: false };
    const body = mapOk({ input: 'Hi', text: { format: { type: 'json_schema', name: 'answer', schema, strict: true } } });
    expect(body.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } });
  });

  it('maps json_object to response_format, and the text format and verbosity as they are', () => {
    expect(mapOk({ input: 'Hi', text: { format: { type: 'json_object' } } }).response_format).toEqual({ type: 'json_object' });
    const plain = mapOk({ input: 'Hi', text: { format: { type: 'text' }, verbosity: 'low' } });
    expect(plain).not.toHaveProperty('response_format');
    expect(plain.verbosity).toBe('low');
  });

  it('refuses an unknown text format type', () => {
    expect(mapRefused({ input: 'Hi', text: { format: { type: 'grammar' } } }).param).toBe('text.format.type');
  });
});
