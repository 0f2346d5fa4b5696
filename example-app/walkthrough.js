// Drives the example app with the official `openai` client: a background response is created,
// polled while its text grows, completed; a second one is cancelled; the first is deleted.
'use strict';

const OpenAI = require('openai');

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// `cancel` returns the Response without the SDK's `output_text` convenience field.
const textOf = (response) =>
  response.output.flatMap((item) => item.content || []).map((part) => part.text || '').join('');

async function runWalkthrough({ baseURL, apiKey, model }) {
  const client = new OpenAI({ baseURL, apiKey, maxRetries: 0 });

  console.log('\n1. create a background response');
  const created = await client.responses.create({ model, input: 'Tell me about background mode.', background: true });
  console.log(`   id=${created.id} status=${created.status}`);

  console.log('2. poll it until it is done');
  let current = created;
  while (current.status === 'queued' || current.status === 'in_progress') {
    await sleep(500);
    current = await client.responses.retrieve(created.id);
    console.log(`   status=${current.status} text so far: ${current.output_text.length} chars`);
  }
  console.log(`   final: "${current.output_text.slice(0, 120)}…" usage=${JSON.stringify(current.usage)}`);

  console.log('3. create another one and cancel it while it runs');
  const second = await client.responses.create({ model, input: 'A long answer, please.', background: true });
  await sleep(800);
  const cancelled = await client.responses.cancel(second.id);
  console.log(`   id=${second.id} status=${cancelled.status} partial text: ${textOf(cancelled).length} chars`);

  console.log('4. delete the first one');
  await client.responses.delete(created.id);
  try {
    await client.responses.retrieve(created.id);
  } catch (err) {
    console.log(`   retrieve after delete: HTTP ${err.status} (${err.error && err.error.message})`);
  }
}

module.exports = { runWalkthrough };
