// A request's input as listed items: OpenAI's item shapes with ids, and the cursor pages.

import { itemPage, parseItemListQuery, toInputItems } from '../../lib/conversation/input-items';
import { ApiError } from '../../lib/errors';

describe('input items', () => {
  test('a string input is one user message with an input_text part and a msg_ id', () => {
    const [item] = toInputItems('Hi');
    expect(item).toEqual({ type: 'message', id: expect.stringMatching(/^msg_[0-9a-f]{32}$/), role: 'user', content: [{ type: 'input_text', text: 'Hi' }] });
  });

  test('easy messages get a type and content parts; given ids and other item types are kept', () => {
    const items = toInputItems([
      { role: 'assistant', content: 'Earlier answer' },
      { type: 'function_call_output', call_id: 'call_1', output: '42' },
      { type: 'message', id: 'msg_mine', role: 'developer', content: [{ type: 'input_text', text: 'x' }] },
    ]);
    expect(items[0]).toMatchObject({ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'Earlier answer', annotations: [] }] });
    expect(items[1]).toMatchObject({ type: 'function_call_output', call_id: 'call_1', output: '42', id: expect.stringMatching(/^fco_/) });
    expect(items[2].id).toBe('msg_mine');
  });

  const items = ['a', 'b', 'c', 'd', 'e'].map((id) => ({ type: 'message', id }));

  test('pages run newest first by default, and oldest first with order=asc, after a cursor', () => {
    expect(itemPage(items, parseItemListQuery({ limit: '2' }))).toEqual({ object: 'list', data: [items[4], items[3]], first_id: 'e', last_id: 'd', has_more: true });
    expect(itemPage(items, parseItemListQuery({ order: 'asc', after: 'c' }))).toEqual({ object: 'list', data: [items[3], items[4]], first_id: 'd', last_id: 'e', has_more: false });
    expect(itemPage([], parseItemListQuery({}))).toEqual({ object: 'list', data: [], first_id: null, last_id: null, has_more: false });
  });

  test.each([
    [{ limit: '0' }, 'limit'],
    [{ limit: '101' }, 'limit'],
    [{ limit: 'ten' }, 'limit'],
    [{ order: 'up' }, 'order'],
    [{ after: '' }, 'after'],
  ])('the query %p is a 400 naming %s', (query, param) => {
    expect(() => parseItemListQuery(query)).toThrow(ApiError);
    try {
      parseItemListQuery(query);
    } catch (err) {
      expect((err as ApiError).param).toBe(param);
    }
  });

  test('an unknown after cursor is a 400 naming after', () => {
    expect(() => itemPage(items, parseItemListQuery({ after: 'zz' }))).toThrow(/No input item/);
  });
});
