// Scenario 6: resume, time to the first replayed event and total replay time of a long event log,
// against one LRANGE written out as SSE.
'use strict';

const { request, median } = require('../lib/http');
const { createResponse, waitDone, row, round } = require('../lib/common');

function countEvents(body) {
  let n = 0;
  for (let i = body.indexOf('data: '); i !== -1; i = body.indexOf('data: ', i + 6)) n += 1;
  return n;
}

module.exports = async function resumeScenario(env, size) {
  // Our log holds the upstream's events less `response.created`, plus its own opening events.
  const id = await createResponse(env, { seed: 6, deltas: size.events - 8 });
  await waitDone(env, id);
  const logLength = await env.client.lLen(`${env.keyPrefix}{${id}}:log`);
  const sides = {
    ours: { path: `/llm/v1/responses/${id}?stream=true` },
    baseline: { path: `/baseline/replay/${id}` },
  };
  const out = { ours: { first: [], total: [] }, baseline: { first: [], total: [] } };
  let oursEvents = 0;
  for (let r = -1; r < size.rounds; r++) {
    for (const name of r % 2 === 0 ? ['ours', 'baseline'] : ['baseline', 'ours']) {
      const res = await request(env.origin, sides[name]);
      if (res.status !== 200) throw new Error(`resume scenario: ${name} answered ${res.status}`);
      if (name === 'ours') oursEvents = countEvents(res.body);
      if (r < 0) continue; // warm-up
      out[name].first.push(res.firstMs);
      out[name].total.push(res.ms);
    }
  }
  if (oursEvents < logLength) throw new Error(`resume scenario: replayed ${oursEvents} of ${logLength} events`);
  const m = (name, k) => median(out[name][k]);
  return {
    rows: [
      row('6 resume', `${logLength}-event log: time to first replayed event, ms (median of ${size.rounds})`, { ours: round(m('ours', 'first')), baseline: round(m('baseline', 'first')), value: round(m('ours', 'first') / m('baseline', 'first')), unit: 'x baseline' }),
      row('6 resume', `${logLength}-event log: total replay time, ms`, { ours: round(m('ours', 'total')), baseline: round(m('baseline', 'total')), value: round(m('ours', 'total') / m('baseline', 'total')), unit: 'x baseline' }),
    ],
    details: { logLength, replayedEvents: oursEvents, ours: out.ours, baseline: out.baseline },
  };
};
