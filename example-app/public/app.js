// Demo page logic: creates background responses and follows them by polling GET /responses/{id}
// or by resuming GET /responses/{id}?stream=true&starting_after=N; cancel, delete, recent list.
'use strict';

(function () {
  const TERMINAL = new Set(['completed', 'failed', 'incomplete', 'cancelled']);
  const RECENT_KEY = 'express-responses-polling-demo:recent';
  const RECENT_MAX = 20;
  const POLL_MS = 400;
  const MAX_RESUMES = 20;

  const $ = (id) => document.getElementById(id);
  const els = {
    form: $('create-form'), prompt: $('prompt'), model: $('model'), apiKey: $('api-key'), keyBox: $('key-box'),
    run: $('run'), error: $('error'), id: $('response-id'), status: $('status'), progress: $('progress'),
    output: $('output'), cancel: $('cancel'), reconnect: $('reconnect'), del: $('delete'),
    recent: $('recent'), recentEmpty: $('recent-empty'), note: $('upstream-note'), curl: $('curl-hint'),
    watching: $('watching'), lifecycle: $('lifecycle'),
  };

  let apiBase = 'llm/v1';
  /** The response on screen: its id, and the AbortController of whatever follows it. */
  let current = null;
  /** Aborts only the open event stream (the follower then resumes after the last event seen). */
  let streamConnection = null;

  /** An OpenAI-shaped error answer (`{ error: { message, type, param, code } }`) or a network failure. */
  class ApiError extends Error {
    constructor(status, body) {
      super((body && body.message) || `HTTP ${status}`);
      this.status = status;
      this.body = body || {};
    }
  }

  const sleep = (ms, signal) =>
    new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      signal && signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
    });

  function headers(extra) {
    const h = Object.assign({}, extra);
    const key = els.apiKey.value.trim();
    if (key) h.authorization = `Bearer ${key}`;
    return h;
  }

  async function errorOf(res) {
    const text = await res.text();
    try {
      const json = JSON.parse(text);
      if (json && json.error) return new ApiError(res.status, json.error);
    } catch (_) { /* not JSON */ }
    return new ApiError(res.status, { message: text || res.statusText });
  }

  async function api(method, path, body, signal) {
    const res = await fetch(`${apiBase}${path}`, {
      method,
      headers: headers(body ? { 'content-type': 'application/json', accept: 'application/json' } : { accept: 'application/json' }),
      body: body ? JSON.stringify(body) : undefined,
      signal,
    });
    if (!res.ok) throw await errorOf(res);
    return res.json();
  }

  // ---- rendering -------------------------------------------------------------------------------

  function showError(err) {
    if (!err || err.name === 'AbortError') return;
    const b = err.body || {};
    const head = err.status ? `HTTP ${err.status}` : 'Network error';
    const detail = [b.type, b.code && `code ${b.code}`, b.param && `param ${b.param}`].filter(Boolean).join(', ');
    els.error.textContent = `${head}: ${err.message}${detail ? ` (${detail})` : ''}`;
    els.error.hidden = false;
  }

  function clearError() {
    els.error.hidden = true;
    els.error.textContent = '';
  }

  function textOf(response) {
    return (response.output || [])
      .filter((item) => item.type === 'message')
      .flatMap((item) => item.content || [])
      .map((part) => part.text || part.refusal || '')
      .join('');
  }

  /** How the response on screen is followed, in words. */
  function howFollowed() {
    if (!current) return '';
    if (current.mode === 'stream') return 'streamed from GET /responses/{id}?stream=true (resumed with starting_after when the connection drops)';
    if (current.mode === 'read') return 'read once with GET /responses/{id}';
    return `polled with GET /responses/{id} every ${POLL_MS} ms`;
  }

  /** The line saying what the user is watching, and the lifecycle steps: done, current, to come. */
  function renderWatching(status) {
    const steps = [...els.lifecycle.children];
    const end = TERMINAL.has(status) ? status : 'completed';
    steps[2].firstElementChild.textContent = end;
    const reached = status === 'queued' ? 0 : status === 'in_progress' ? 1 : TERMINAL.has(status) ? 2 : -1;
    steps.forEach((li, i) => {
      li.classList.toggle('done', i < reached || (i === reached && TERMINAL.has(status)));
      if (i === reached) li.setAttribute('aria-current', 'step');
      else li.removeAttribute('aria-current');
    });
    els.lifecycle.dataset.end = end;
    let line;
    if (!current || reached < 0) {
      line = status === 'deleted' ? 'Deleted: the server no longer has this response.'
        : status === 'not found' ? 'The server has no such response (expired, deleted, or someone else\'s).'
        : 'Run a prompt to watch a background response go queued → in_progress → completed, polled or streamed.';
    } else if (TERMINAL.has(status)) {
      line = `Finished as ${status}; it was ${howFollowed()}.`;
    } else {
      line = `Watching it go queued → in_progress → completed, ${howFollowed()}. Now ${status}.`;
    }
    els.watching.textContent = line;
  }

  function setStatus(status) {
    renderWatching(status);
    els.status.textContent = status;
    els.status.dataset.status = status;
    const running = status === 'queued' || status === 'in_progress';
    els.cancel.disabled = !current || !running;
    els.reconnect.disabled = !running || !streamConnection;
    els.del.disabled = !current || status === 'deleted';
    if (current) rememberStatus(current.id, status);
  }

  function setText(text) {
    if (els.output.textContent !== text) els.output.textContent = text;
  }

  function showResponse(r) {
    setText(textOf(r));
    setStatus(r.status);
    if (r.status === 'failed' && r.error) showError(new ApiError(0, Object.assign({ type: 'response_failed' }, r.error)));
  }

  // ---- recent responses (localStorage) -----------------------------------------------------------

  function loadRecent() {
    try {
      const list = JSON.parse(localStorage.getItem(RECENT_KEY) || '[]');
      return Array.isArray(list) ? list : [];
    } catch (_) {
      return [];
    }
  }

  function saveRecent(list) {
    localStorage.setItem(RECENT_KEY, JSON.stringify(list.slice(0, RECENT_MAX)));
    renderRecent();
  }

  function remember(id, prompt) {
    saveRecent([{ id, prompt: prompt.slice(0, 80), status: 'queued', createdAt: Date.now() }, ...loadRecent().filter((e) => e.id !== id)]);
  }

  function rememberStatus(id, status) {
    const list = loadRecent();
    const entry = list.find((e) => e.id === id);
    if (entry && entry.status !== status && status !== 'deleted') {
      entry.status = status;
      saveRecent(list);
    }
  }

  function forget(id) {
    saveRecent(loadRecent().filter((e) => e.id !== id));
  }

  function renderRecent() {
    const list = loadRecent();
    els.recent.replaceChildren(
      ...list.map((e) => {
        const li = document.createElement('li');
        const button = document.createElement('button');
        button.type = 'button';
        button.className = 'recent-item';
        button.dataset.testid = 'recent-item';
        button.dataset.id = e.id;
        button.dataset.status = e.status;
        if (current && current.id === e.id) button.setAttribute('aria-current', 'true');
        const prompt = document.createElement('span');
        prompt.className = 'recent-prompt';
        prompt.textContent = e.prompt || '(no prompt)';
        const status = document.createElement('span');
        status.className = 'status';
        status.dataset.status = e.status;
        status.textContent = e.status;
        const when = document.createElement('time');
        when.dateTime = new Date(e.createdAt).toISOString();
        when.textContent = new Date(e.createdAt).toLocaleTimeString();
        button.append(prompt, status, when);
        button.addEventListener('click', () => view(e.id));
        li.append(button);
        return li;
      }),
    );
    els.recentEmpty.hidden = list.length > 0;
  }

  // ---- following a response ---------------------------------------------------------------------

  async function followByPolling(id, signal) {
    let polls = 0;
    for (;;) {
      const r = await api('GET', `/responses/${encodeURIComponent(id)}`, null, signal);
      if (signal.aborted) return;
      polls += 1;
      els.progress.textContent = `polling GET /responses/{id} every ${POLL_MS} ms: ${polls} polls`;
      showResponse(r);
      if (TERMINAL.has(r.status)) return;
      await sleep(POLL_MS, signal);
      if (signal.aborted) return;
    }
  }

  /** Splits SSE text into frames; returns the parsed `data:` JSON of each complete frame and the rest. */
  function parseFrames(buffer) {
    const frames = buffer.replace(/\r\n?/g, '\n').split('\n\n');
    const rest = frames.pop();
    const events = [];
    for (const frame of frames) {
      const data = frame.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).replace(/^ /, '')).join('\n');
      if (!data) continue; // a comment (keepalive) or an empty frame
      try {
        events.push(JSON.parse(data));
      } catch (_) { /* skip a malformed frame */ }
    }
    return { events, rest };
  }

  async function followByStream(id, signal) {
    let lastSeq = -1;
    let text = '';
    let received = 0;
    let connections = 0;
    let status = els.status.dataset.status;
    while (!signal.aborted) {
      connections += 1;
      if (connections > MAX_RESUMES) throw new ApiError(0, { message: 'The event stream kept ending before the response did.' });
      const connection = new AbortController();
      const abortConnection = () => connection.abort();
      signal.addEventListener('abort', abortConnection, { once: true });
      streamConnection = connection;
      const query = lastSeq >= 0 ? `?stream=true&starting_after=${lastSeq}` : '?stream=true';
      const describe = () =>
        `event stream: ${received} events, last sequence_number ${lastSeq}, ` +
        `${connections === 1 ? '1 connection' : `${connections} connections (resumed with starting_after)`}`;
      try {
        const res = await fetch(`${apiBase}/responses/${encodeURIComponent(id)}${query}`, {
          headers: headers({ accept: 'text/event-stream' }),
          signal: connection.signal,
        });
        if (!res.ok) throw await errorOf(res);
        els.progress.textContent = describe();
        setStatus(status);
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = '';
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          const parsed = parseFrames(buffer + value);
          buffer = parsed.rest;
          for (const event of parsed.events) {
            received += 1;
            if (typeof event.sequence_number === 'number') lastSeq = event.sequence_number;
            if (event.type === 'response.output_text.delta') text += event.delta || '';
            if (event.type === 'error') showError(new ApiError(0, event.error || event));
            if (event.response && event.response.status) {
              status = event.response.status;
              if (TERMINAL.has(status)) text = textOf(event.response);
            }
          }
          setText(text);
          setStatus(status);
          els.progress.textContent = describe();
        }
      } catch (err) {
        // A dropped connection is resumed below; anything the server refused is an error.
        if (err instanceof ApiError || signal.aborted) throw err;
      } finally {
        signal.removeEventListener('abort', abortConnection);
        streamConnection = null;
        els.reconnect.disabled = true;
      }
      if (TERMINAL.has(status) || signal.aborted) return;
      await sleep(200, signal); // the stream ended early (proxy, network): resume after lastSeq
    }
  }

  function mode() {
    return document.querySelector('input[name="mode"]:checked').value;
  }

  /** Stops following what is on screen, and follows `id` in the selected mode. */
  function follow(id, initialStatus) {
    if (current) current.controller.abort();
    const controller = new AbortController();
    current = { id, controller, mode: mode() };
    els.id.textContent = id;
    setStatus(initialStatus);
    renderRecent();
    const run = mode() === 'stream' ? followByStream : followByPolling;
    run(id, controller.signal).catch((err) => {
      if (controller.signal.aborted || current.deleting) return; // a delete ends the follower with a 404
      showError(err);
      if (err.status === 404) {
        forget(id);
        setStatus('not found');
      }
    });
  }

  async function view(id) {
    clearError();
    if (current) current.controller.abort();
    current = { id, controller: new AbortController(), mode: 'read' };
    els.id.textContent = id;
    try {
      const r = await api('GET', `/responses/${encodeURIComponent(id)}`);
      if (current.id !== id) return;
      if (TERMINAL.has(r.status)) {
        showResponse(r);
        renderRecent();
        els.progress.textContent = 'read once with GET /responses/{id}';
      } else {
        setText(mode() === 'stream' ? '' : textOf(r));
        follow(id, r.status);
      }
    } catch (err) {
      showError(err);
      if (err.status === 404) {
        forget(id);
        setText('');
        setStatus('not found');
      }
    }
  }

  // ---- actions ----------------------------------------------------------------------------------

  els.form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearError();
    els.run.disabled = true;
    try {
      const prompt = els.prompt.value;
      const r = await api('POST', '/responses', { model: els.model.value.trim(), input: prompt, background: true });
      remember(r.id, prompt);
      setText('');
      follow(r.id, r.status);
    } catch (err) {
      showError(err);
    } finally {
      els.run.disabled = false;
    }
  });

  els.cancel.addEventListener('click', async () => {
    if (!current) return;
    clearError();
    const { id } = current;
    els.cancel.disabled = true;
    try {
      const r = await api('POST', `/responses/${encodeURIComponent(id)}/cancel`);
      if (current && current.id === id) showResponse(r);
    } catch (err) {
      showError(err);
      if (current && current.id === id) setStatus(els.status.dataset.status);
    }
  });

  els.reconnect.addEventListener('click', () => {
    if (streamConnection) streamConnection.abort();
  });

  els.del.addEventListener('click', async () => {
    if (!current) return;
    clearError();
    const { id, controller } = current;
    els.del.disabled = true;
    current.deleting = true;
    try {
      await api('DELETE', `/responses/${encodeURIComponent(id)}`);
      controller.abort();
      forget(id);
      if (current && current.id === id) {
        setText('');
        setStatus('deleted');
        els.progress.textContent = `deleted with DELETE /responses/{id}`;
      }
    } catch (err) {
      showError(err);
      if (current && current.id === id) {
        current.deleting = false;
        setStatus(els.status.dataset.status);
      }
    }
  });

  // ---- start ------------------------------------------------------------------------------------

  async function start() {
    try {
      const res = await fetch('demo-config.json', { headers: { accept: 'application/json' } });
      if (res.ok) {
        const config = await res.json();
        apiBase = config.apiBase || apiBase;
        if (config.model) els.model.value = config.model;
        els.note.hidden = !config.demo;
        els.keyBox.open = Boolean(config.needsKey);
      }
    } catch (_) { /* keep the defaults */ }
    const base = new URL(apiBase, location.href).href;
    els.curl.textContent =
      `curl -s -X POST ${base}/responses -H 'content-type: application/json' ` +
      `-d '{"model":"${els.model.value}","input":"hello","background":true}'`;
    renderRecent();
    document.body.dataset.ready = 'true';
  }

  start();
})();
