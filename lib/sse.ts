// Writing Server-Sent Events in the framing OpenAI uses: an `event:` line with the type, then
// the JSON on one `data:` line, then a blank line.

/**
 * One SSE frame for an event of `type` whose JSON is `data` (a single line). A type holding a
 * line break (an upstream may send any string) is named with spaces in its place, so the frame
 * stays one `event:` line and one `data:` line; the type in the JSON is left as it is.
 */
export function sseFrame(type: string, data: string): string {
  const name = type.includes('\n') || type.includes('\r') ? type.replace(/\r\n|[\r\n]/g, ' ') : type;
  return `event: ${name}\ndata: ${data}\n\n`;
}
