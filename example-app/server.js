// An ordinary (CommonJS) Express app with routes of its own that mounts the background-responses
// router under /llm. With no configuration it uses the in-memory store and the demo upstream, and
// walks through create → poll → cancel → delete with the official `openai` client. Its root serves
// a demo page (example-app/public/) that drives the same routes from a browser.
'use strict';

const path = require('node:path');
const express = require('express');
const { responsesPolling, loadConfig, startDemoUpstream } = require('..');
const { runWalkthrough } = require('./walkthrough');

const PORT = Number(process.env.PORT || 3000);
const HOST = process.env.HOST || '127.0.0.1';
const PREFIX = '/llm';

// The example binds 127.0.0.1 and has no keys of its own: say so explicitly. Set a master key
// (general_settings.master_key in a CONFIG_FILE) before exposing it anywhere else.
const LOCAL_ONLY = { auth: 'none' };

async function buildOptions() {
  if (process.env.CONFIG_FILE) {
    console.log(`config: ${process.env.CONFIG_FILE}`);
    return { options: loadConfig(process.env.CONFIG_FILE) };
  }
  if (process.env.OPENAI_API_KEY) {
    console.log('config: every model proxied to OpenAI with OPENAI_API_KEY');
    return { options: { ...LOCAL_ONLY, models: [{ modelName: '*', model: 'openai/*', apiKey: process.env.OPENAI_API_KEY }] } };
  }
  // The demo page shows the text growing and offers a cancel button: words arrive at a pace a person
  // can watch (DEMO_WORD_DELAY_MS, default 100 ms a word).
  const demo = await startDemoUpstream({ wordDelayMs: Number(process.env.DEMO_WORD_DELAY_MS || 100) });
  console.log(`config: DEMO upstream at ${demo.url} (made-up text, no model is called)`);
  return { options: { ...LOCAL_ONLY, models: [{ modelName: '*', model: 'openai/*', apiBase: demo.url }] }, demo };
}

async function main() {
  const { options, demo } = await buildOptions();
  const app = express();

  // The host app's own routes: the demo page at the root, and where the page finds the router.
  // The API path is relative to the page, so the page also works behind a proxy that adds a path.
  app.get('/demo-config.json', (req, res) => {
    const apiBase = `${PREFIX.replace(/^\/+/, '')}/v1`;
    res.json({ apiBase, model: process.env.MODEL || 'demo', demo: Boolean(demo), needsKey: options.auth !== 'none' });
  });
  app.use(express.static(path.join(__dirname, 'public')));

  const polling = responsesPolling(options);
  app.use(PREFIX, polling);
  // Operators' endpoints, mounted by the host where it likes: store PING + running count, Prometheus text.
  app.get('/healthz', polling.healthCheck());
  app.get('/metrics', polling.metricsHandler());

  const server = app.listen(PORT, HOST, async () => {
    const port = server.address().port; // PORT=0 picks a free one
    const baseURL = `http://${HOST}:${port}${PREFIX}/v1`;
    console.log(`example app listening on http://${HOST}:${port} (demo page at /, responses at ${baseURL})`);
    if (process.env.WALKTHROUGH !== '0') {
      try {
        await runWalkthrough({ baseURL, apiKey: options.masterKey || 'unused', model: process.env.MODEL || 'demo' });
      } catch (err) {
        console.error(`walkthrough failed: ${err && err.message}`);
      }
      console.log('walkthrough done; the app keeps serving (Ctrl-C to stop).');
    }
  });

  const stop = async () => {
    server.close();
    await polling.close();
    if (demo) await demo.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  console.error(err && err.message ? err.message : err);
  process.exit(1);
});
