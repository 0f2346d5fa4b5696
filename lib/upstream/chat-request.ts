// Maps a validated Responses create body to a streaming Chat Completions request, or refuses it.

import { isRecord } from '../json';
import { invalidRequest, type ApiError } from '../errors';
import type { CreateResponseBody } from '../middleware/create-request';

type Json = Record<string, unknown>;
type ChatMessage = Json & { role: string };
type ChatPart = Json & { type: string };

/** The request body for `POST {api_base}/chat/completions`. */
export interface ChatCompletionsRequest {
  body: Record<string, unknown>;
}

/**
 * Fields this package keeps on its own Response and never sends to a Chat Completions upstream:
 * they describe how the answer is stored and delivered, not what it says.
 */
export const CHAT_KEPT_LOCALLY: readonly string[] = ['model', 'background', 'stream', 'stream_options', 'store', 'metadata'];

/** Fields copied to the chat body under the same name when set (null means "default": omitted). */
const SAME_NAME = ['temperature', 'top_p', 'user', 'safety_identifier', 'prompt_cache_key', 'service_tier'];

/** Fields read by the mapping below; every other field of the body is refused. */
const MAPPED = new Set([
  ...CHAT_KEPT_LOCALLY,
  ...SAME_NAME,
  'input',
  'instructions',
  'max_output_tokens',
  'parallel_tool_calls',
  'tools',
  'tool_choice',
  'text',
  'reasoning',
  'truncation',
  'include',
  'top_logprobs',
  'max_tool_calls',
]);

/** Fields that need state a Chat Completions upstream does not have. */
const STATEFUL = ['previous_response_id', 'conversation', 'prompt'];

const CHAT_ONLY = 'this deployment speaks Chat Completions only';
const TEXT_PARTS = new Set(['input_text', 'output_text', 'text']);
const MESSAGE_ROLES = new Set(['user', 'assistant', 'system', 'developer']);
const TOOL_CHOICE_MODES = new Set(['auto', 'none', 'required']);

/** Thrown inside the mapping and turned into the returned ApiError at the top. */
class Refusal {
  constructor(readonly error: ApiError) {}
}

function refuse(message: string, param: string, code = 'unsupported_parameter'): never {
  throw new Refusal(invalidRequest(message, param, code));
}

/**
 * Builds the Chat Completions request for a Responses create body: `instructions` and `input`
 * become `messages`, the sampling and tool fields are renamed, and `model`, `stream: true` and
 * `stream_options.include_usage` are always set. Returns a 400 ApiError naming the first field
 * or value that Chat Completions cannot express; nothing is dropped silently except the fields
 * in {@link CHAT_KEPT_LOCALLY} and `reasoning` input items (see `mapItem`). Pure.
 */
export function toChatCompletionsRequest(body: CreateResponseBody, upstreamModel: string): ChatCompletionsRequest | ApiError {
  try {
    return { body: buildBody(body, upstreamModel) };
  } catch (err) {
    if (err instanceof Refusal) return err.error;
    throw err;
  }
}

function buildBody(body: CreateResponseBody, upstreamModel: string): Json {
  for (const field of STATEFUL) {
    if (body[field] != null) {
      refuse(`'${field}' is not supported: ${CHAT_ONLY}, which keeps no server-side state. Send the whole conversation in 'input'.`, field);
    }
  }
  for (const field of Object.keys(body)) {
    if (!MAPPED.has(field) && body[field] !== undefined) refuse(`'${field}' is not supported: ${CHAT_ONLY}.`, field);
  }
  checkUnsupportedValues(body);

  const chat: Json = { model: upstreamModel };
  chat.messages = buildMessages(body);
  for (const field of SAME_NAME) if (body[field] != null) chat[field] = body[field];
  if (body.max_output_tokens != null) chat.max_tokens = body.max_output_tokens;

  const tools = Array.isArray(body.tools) ? body.tools.map(mapTool) : [];
  if (tools.length > 0) {
    chat.tools = tools;
    // OpenAI refuses `parallel_tool_calls` on a request without tools, so it goes only with them.
    if (typeof body.parallel_tool_calls === 'boolean') chat.parallel_tool_calls = body.parallel_tool_calls;
  }
  if (body.tool_choice != null) {
    const choice = mapToolChoice(body.tool_choice);
    // `auto` is the default; without tools some servers refuse any `tool_choice` at all.
    if (tools.length > 0 || choice !== 'auto') chat.tool_choice = choice;
  }
  mapText(body.text, chat);
  mapReasoning(body.reasoning, chat);

  chat.stream = true;
  chat.stream_options = { include_usage: true };
  return chat;
}

function checkUnsupportedValues(body: CreateResponseBody): void {
  if (body.truncation != null && body.truncation !== 'disabled') {
    refuse(`'truncation: ${String(body.truncation)}' is not supported: ${CHAT_ONLY}; only 'disabled' is.`, 'truncation', 'unsupported_value');
  }
  if (Array.isArray(body.include) ? body.include.length > 0 : body.include != null) {
    refuse(`'include' is not supported: ${CHAT_ONLY}, which returns none of the extra output it asks for.`, 'include');
  }
  if (typeof body.top_logprobs === 'number' && body.top_logprobs > 0) {
    refuse(`'top_logprobs' is not supported: ${CHAT_ONLY}; log probabilities are not returned.`, 'top_logprobs', 'unsupported_value');
  }
  if (body.max_tool_calls != null) {
    refuse(`'max_tool_calls' is not supported: ${CHAT_ONLY}, which has no built-in tools.`, 'max_tool_calls');
  }
}

function buildMessages(body: CreateResponseBody): ChatMessage[] {
  const messages: ChatMessage[] = [];
  const { instructions, input } = body;
  // `system` rather than `developer`: every OpenAI-compatible server knows it, and OpenAI maps
  // it to `developer` for the models that want that.
  if (typeof instructions === 'string') {
    if (instructions !== '') messages.push({ role: 'system', content: instructions });
  } else if (Array.isArray(instructions)) {
    mapItems(instructions, 'instructions', messages);
  }
  if (typeof input === 'string') messages.push({ role: 'user', content: input });
  else if (Array.isArray(input)) mapItems(input, 'input', messages);
  if (messages.length === 0) refuse("Missing required parameter: 'input'.", 'input', 'missing_required_parameter');
  return messages;
}

function mapItems(items: unknown[], path: string, messages: ChatMessage[]): void {
  for (let i = 0; i < items.length; i++) mapItem(items[i], `${path}[${i}]`, messages);
}

function mapItem(raw: unknown, param: string, messages: ChatMessage[]): void {
  if (!isRecord(raw)) refuse(`Invalid '${param}': an input item must be an object.`, param, 'invalid_type');
  const type = raw.type ?? 'message';
  switch (type) {
    case 'message':
      messages.push(mapMessage(raw, param));
      return;
    case 'function_call':
      addToolCall(raw, param, messages);
      return;
    case 'function_call_output':
      messages.push(mapToolOutput(raw, param));
      return;
    case 'reasoning':
      // The model's own reasoning from an earlier turn, as clients pass `response.output` back.
      // Chat Completions has no standard field for it and it carries no instruction, so it is
      // skipped rather than refused: refusing would break every multi-turn tool loop on servers
      // that reason.
      return;
    default:
      refuse(`Input items of type '${String(type)}' are not supported: ${CHAT_ONLY}.`, `${param}.type`, 'unsupported_value');
  }
}

function mapMessage(item: Json, param: string): ChatMessage {
  const role = item.role;
  if (typeof role !== 'string' || !MESSAGE_ROLES.has(role)) {
    refuse(`Invalid '${param}.role': expected one of 'user', 'assistant', 'system' or 'developer'.`, `${param}.role`, 'invalid_value');
  }
  // `developer` becomes `system` for the same reason as `instructions`.
  const chatRole = role === 'developer' ? 'system' : role;
  return { role: chatRole, content: mapContent(item.content, `${param}.content`, chatRole === 'user') };
}

/** A string stays a string; a list of parts maps part by part, and a lone text part becomes a string. */
function mapContent(content: unknown, param: string, imagesAllowed: boolean): string | ChatPart[] {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) refuse(`Invalid type for '${param}': expected a string or an array of content parts.`, param, 'invalid_type');
  const parts = content.map((part, j) => mapPart(part, `${param}[${j}]`, imagesAllowed));
  return parts.length === 1 && parts[0].type === 'text' ? (parts[0].text as string) : parts;
}

function mapPart(part: unknown, param: string, imagesAllowed: boolean): ChatPart {
  if (!isRecord(part)) refuse(`Invalid '${param}': a content part must be an object.`, param, 'invalid_type');
  const type = part.type;
  if (typeof type === 'string' && TEXT_PARTS.has(type)) {
    if (typeof part.text !== 'string') refuse(`Invalid type for '${param}.text': expected a string.`, `${param}.text`, 'invalid_type');
    return { type: 'text', text: part.text };
  }
  // A refusal the assistant gave earlier goes back as the text it was; few servers know `refusal` parts.
  if (type === 'refusal' && typeof part.refusal === 'string') return { type: 'text', text: part.refusal };
  if (type === 'input_image' && imagesAllowed) {
    if (typeof part.image_url !== 'string' || part.image_url === '') {
      refuse(`'${param}' is not supported: ${CHAT_ONLY}, so images must be given by 'image_url', not 'file_id'.`, `${param}.image_url`, 'unsupported_value');
    }
    const imageUrl: Json = { url: part.image_url };
    if (part.detail != null) imageUrl.detail = part.detail;
    return { type: 'image_url', image_url: imageUrl };
  }
  const where = type === 'input_image' ? ' in this role (Chat Completions takes images only in user messages)' : '';
  return refuse(`Content parts of type '${String(type)}' are not supported${where}: ${CHAT_ONLY}.`, `${param}.type`, 'unsupported_value');
}

/** Consecutive `function_call` items (and the assistant message just before them) form one assistant message. */
function addToolCall(item: Json, param: string, messages: ChatMessage[]): void {
  for (const field of ['call_id', 'name', 'arguments']) {
    if (typeof item[field] !== 'string') refuse(`Invalid type for '${param}.${field}': expected a string.`, `${param}.${field}`, 'invalid_type');
  }
  const call = { id: item.call_id, type: 'function', function: { name: item.name, arguments: item.arguments } };
  const last = messages[messages.length - 1];
  if (last !== undefined && last.role === 'assistant') {
    if (Array.isArray(last.tool_calls)) last.tool_calls.push(call);
    else last.tool_calls = [call];
    return;
  }
  messages.push({ role: 'assistant', content: null, tool_calls: [call] });
}

function mapToolOutput(item: Json, param: string): ChatMessage {
  if (typeof item.call_id !== 'string') refuse(`Invalid type for '${param}.call_id': expected a string.`, `${param}.call_id`, 'invalid_type');
  const output = item.output;
  if (typeof output !== 'string' && !Array.isArray(output)) {
    refuse(`Invalid type for '${param}.output': expected a string or an array of content parts.`, `${param}.output`, 'invalid_type');
  }
  // Chat tool messages take text only.
  return { role: 'tool', tool_call_id: item.call_id, content: mapContent(output, `${param}.output`, false) };
}

function mapTool(tool: unknown, i: number): Json {
  const param = `tools[${i}]`;
  if (!isRecord(tool)) refuse(`Invalid '${param}': a tool must be an object.`, param, 'invalid_type');
  if (tool.type !== 'function') {
    refuse(`Tools of type '${String(tool.type)}' are not supported: ${CHAT_ONLY}, which has function tools only.`, `${param}.type`, 'unsupported_value');
  }
  if (typeof tool.name !== 'string' || tool.name === '') refuse(`Missing required parameter: '${param}.name'.`, `${param}.name`, 'missing_required_parameter');
  const fn: Json = { name: tool.name };
  if (tool.description != null) fn.description = tool.description;
  if (tool.parameters != null) fn.parameters = tool.parameters;
  if (tool.strict != null) fn.strict = tool.strict;
  return { type: 'function', function: fn };
}

function mapToolChoice(choice: unknown): unknown {
  if (typeof choice === 'string') {
    if (TOOL_CHOICE_MODES.has(choice)) return choice;
    refuse(`Invalid value for 'tool_choice': '${choice}'.`, 'tool_choice', 'invalid_value');
  }
  if (isRecord(choice) && choice.type === 'function' && typeof choice.name === 'string') {
    return { type: 'function', function: { name: choice.name } };
  }
  const type = isRecord(choice) ? String(choice.type) : typeof choice;
  return refuse(`'tool_choice' of type '${type}' is not supported: ${CHAT_ONLY}.`, 'tool_choice.type', 'unsupported_value');
}

function mapText(text: unknown, chat: Json): void {
  if (!isRecord(text)) return;
  for (const key of Object.keys(text)) {
    if (key !== 'format' && key !== 'verbosity') refuse(`'text.${key}' is not supported: ${CHAT_ONLY}.`, `text.${key}`);
  }
  if (text.verbosity != null) chat.verbosity = text.verbosity;
  const format = text.format;
  if (format == null) return;
  if (!isRecord(format)) refuse("Invalid type for 'text.format': expected an object.", 'text.format', 'invalid_type');
  switch (format.type) {
    case 'text':
      return;
    case 'json_object':
      chat.response_format = { type: 'json_object' };
      return;
    case 'json_schema': {
      if (typeof format.name !== 'string') refuse("Missing required parameter: 'text.format.name'.", 'text.format.name', 'missing_required_parameter');
      const schema: Json = { name: format.name };
      if (format.description != null) schema.description = format.description;
      if (format.schema != null) schema.schema = format.schema;
      if (format.strict != null) schema.strict = format.strict;
      chat.response_format = { type: 'json_schema', json_schema: schema };
      return;
    }
    default:
      refuse(`'text.format' of type '${String(format.type)}' is not supported: ${CHAT_ONLY}.`, 'text.format.type', 'unsupported_value');
  }
}

function mapReasoning(reasoning: unknown, chat: Json): void {
  if (!isRecord(reasoning)) return;
  for (const key of Object.keys(reasoning)) {
    if (reasoning[key] == null) continue;
    if (key === 'effort') chat.reasoning_effort = reasoning.effort;
    else refuse(`'reasoning.${key}' is not supported: ${CHAT_ONLY}, which has no reasoning summaries; only 'reasoning.effort' is.`, `reasoning.${key}`);
  }
}
