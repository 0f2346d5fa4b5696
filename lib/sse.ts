// Writing Server-Sent Events in the framing OpenAI uses: an `event:` line with the type, then
// the JSON on one `data:` line, then a blank line.

/** One SSE frame for an event of `type` whose JSON is `data` (a single line). */
export function sseFrame(type: string, data: string): string {
  return `event: ${type}\ndata: ${data}\n\n`;
}
