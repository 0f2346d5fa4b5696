// Scenario 6: resume, time to the first replayed event and total replay time of a long event log,
// against one LRANGE written out as SSE; then a resume near the end of a much longer log
// (`starting_after` close to its last event), with the Redis bytes read beside the bytes sent.
'use strict';

const { request, median } = require('../lib/http');
const { createResponse, waitDone, row, round } = require('../lib/common');

function countEvents(body) {
  let n = 0;
  for (let i = body.indexOf('data: '); i !== -1; i = body.indexOf('data: ', i + 6)) n += 1;
  return n;
}

/** A response of about `events` log entries, completed; resolves with its id and log length. */
async function completedLog(env, seed, events) {
  // Our log holds the upstream's events less `response.created`, plus its own opening events.
  const id = await createResponse(env, { seed, deltas: events - 8 });
  await waitDone(env, id);
  return { id, logLength: await env.client.lLen(`${env.keyPrefix}{${id}}:log`) };
}

/** Redis `total_net_output_bytes` (bytes Redis sent to its clients) so far. */
async function redisOut(env) {
  return Number((await env.info('stats')).total_net_output_bytes);
}

/**
 * Alternating rounds (after a warm-up of each) of `sides` (name → request options). Returns per
 * side the first-byte and total times, the events of the last body, the body bytes and the Redis
 * bytes read per request (INFO's own reply is measured and taken off).
 */
async function rounds(env, sides, count) {
  const out = {};
  for (const name of Object.keys(sides)) out[name] = { first: [], total: [], redisBytes: [], sentBytes: [], events: 0 };
  for (let r = -1; r < count; r++) {
    for (const name of r % 2 === 0 ? ['ours', 'baseline'] : ['baseline', 'ours']) {
      const a = await redisOut(env);
      const b = await redisOut(env);
      const res = await request(env.origin, sides[name]);
      const c = await redisOut(env);
      if (res.status !== 200) throw new Error(`resume scenario: ${name} answered ${res.status}`);
      out[name].events = countEvents(res.body);
      if (r < 0) continue; // warm-up
      out[name].first.push(res.firstMs);
      out[name].total.push(res.ms);
      out[name].redisBytes.push(Math.max(0, c - b - (b - a)));
      out[name].sentBytes.push(Buffer.byteLength(res.body));
    }
  }
  return out;
}

module.exports = async function resumeScenario(env, size) {
  const full = await completedLog(env, 6, size.events);
  const whole = await rounds(env, { ours: { path: `/llm/v1/responses/${full.id}?stream=true` }, baseline: { path: `/baseline/replay/${full.id}` } }, size.rounds);
  if (whole.ours.events < full.logLength) throw new Error(`resume scenario: replayed ${whole.ours.events} of ${full.logLength} events`);

  // Near the end of a long log: the last `tailEvents` events (sequence number = log index).
  const long = await completedLog(env, 7, size.longEvents);
  const after = long.logLength - 1 - size.tailEvents;
  const tail = await rounds(env, { ours: { path: `/llm/v1/responses/${long.id}?stream=true&starting_after=${after}` }, baseline: { path: `/baseline/replay/${long.id}?from=${after + 1}` } }, size.rounds);
  if (tail.ours.events < size.tailEvents) throw new Error(`resume scenario: replayed ${tail.ours.events} of the last ${size.tailEvents} events`);

  const m = (o, name, k) => median(o[name][k]);
  const readPerSent = (o, name) => m(o, name, 'redisBytes') / m(o, name, 'sentBytes');
  const nearEnd = `${long.logLength}-event log, last ${size.tailEvents} (starting_after=${after})`;
  return {
    rows: [
      row('6 resume', `${full.logLength}-event log: time to first replayed event, ms (median of ${size.rounds})`, { ours: round(m(whole, 'ours', 'first')), baseline: round(m(whole, 'baseline', 'first')), value: round(m(whole, 'ours', 'first') / m(whole, 'baseline', 'first')), unit: 'x baseline', target: 1.5, higherIsBetter: false }),
      row('6 resume', `${full.logLength}-event log: total replay time, ms`, { ours: round(m(whole, 'ours', 'total')), baseline: round(m(whole, 'baseline', 'total')), value: round(m(whole, 'ours', 'total') / m(whole, 'baseline', 'total')), unit: 'x baseline', target: 1.5, higherIsBetter: false }),
      row('6 resume', `${nearEnd}: time to first event, ms`, { ours: round(m(tail, 'ours', 'first')), baseline: round(m(tail, 'baseline', 'first')), value: round(m(tail, 'ours', 'first') / m(tail, 'baseline', 'first')), unit: 'x baseline', target: 1.5, higherIsBetter: false }),
      row('6 resume', `${nearEnd}: total time, ms`, { ours: round(m(tail, 'ours', 'total')), baseline: round(m(tail, 'baseline', 'total')), value: round(m(tail, 'ours', 'total') / m(tail, 'baseline', 'total')), unit: 'x baseline', target: 1.5, higherIsBetter: false }),
      row('6 resume', `${nearEnd}: Redis bytes read / bytes sent`, { ours: `${m(tail, 'ours', 'redisBytes')} / ${m(tail, 'ours', 'sentBytes')} B`, baseline: `LRANGE ${m(tail, 'baseline', 'redisBytes')} / ${m(tail, 'baseline', 'sentBytes')} B = ${round(readPerSent(tail, 'baseline'))}`, value: round(readPerSent(tail, 'ours')), unit: 'x bytes sent', target: 1.5, higherIsBetter: false, note: 'in proportion to what it sends' }),
    ],
    details: { logLength: full.logLength, replayedEvents: whole.ours.events, ours: whole.ours, baseline: whole.baseline, nearEnd: { logLength: long.logLength, startingAfter: after, ours: tail.ours, baseline: tail.baseline } },
  };
};
