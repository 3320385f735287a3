import test from 'node:test';
import assert from 'node:assert/strict';
import { DownloadError, lastSpan, renderLast } from '../../auralis/web/downloads.js';

const TIMELINE = { format: 'auralis-timeline', version: 1, seed: 5, params: {}, changes: [], end: 754.3 };

function fakeServer(steps) {
  const calls = [];
  const fetchFn = async (url, init = {}) => {
    calls.push({ url, init });
    const [status, body] = steps.shift();
    return { ok: status < 400, status, json: async () => body };
  };
  return { calls, fetchFn };
}

test('the last 10 minutes end where the stream is, and start at 0 for a younger stream', () => {
  assert.deepEqual(lastSpan(754.3), { from: 154.3, to: 754.3 });
  assert.deepEqual(lastSpan(90), { from: 0, to: 90 });
  assert.equal(lastSpan(0), null);
  assert.equal(lastSpan(undefined), null);
});

test('a download fetches the timeline, posts the span and follows the progress to the file', async () => {
  const job = { id: 'j', url: '/api/renders/j', status: 'queued', progress: 0 };
  const { calls, fetchFn } = fakeServer([
    [200, TIMELINE],
    [202, job],
    [200, { ...job, status: 'running', progress: 0.5 }],
    [200, { ...job, status: 'done', progress: 1, file: '/api/renders/j/file', filename: 'a.ogg' }],
  ]);
  const seen = [];
  const done = await renderLast({ fetchFn, clientId: 'c1', format: 'ogg', token: 'T', onProgress: (p) => seen.push(p), wait: async () => {} });
  assert.equal(done.file, '/api/renders/j/file');
  assert.deepEqual(seen, [0, 0.5, 1]);
  assert.equal(calls[0].url, '/api/sessions/c1/timeline');
  assert.equal(calls[0].init.headers.Authorization, 'Bearer T');
  assert.equal(calls[1].url, '/api/renders');
  assert.deepEqual(JSON.parse(calls[1].init.body), { timeline: TIMELINE, from: 154.3, to: 754.3, format: 'ogg' });
});

test('refusals come back with the server\'s reason and field; a failed render says why', async () => {
  let s = fakeServer([[200, TIMELINE], [422, { detail: 'to: a render covers at most 30 minutes', field: 'to' }]]);
  await assert.rejects(renderLast({ fetchFn: s.fetchFn, clientId: 'c', format: 'wav', wait: async () => {} }),
    (err) => err instanceof DownloadError && err.status === 422 && err.field === 'to' && /30 minutes/.test(err.message));
  s = fakeServer([[200, TIMELINE], [429, { error: 'Rate limit exceeded', retry_after: 12 }]]);
  await assert.rejects(renderLast({ fetchFn: s.fetchFn, clientId: 'c', format: 'wav' }), (err) => err.retryAfter === 12 && /12 s/.test(err.message));
  s = fakeServer([[200, TIMELINE], [202, { id: 'j', url: '/api/renders/j', status: 'failed', error: 'boom' }]]);
  await assert.rejects(renderLast({ fetchFn: s.fetchFn, clientId: 'c', format: 'midi' }), /boom/);
  s = fakeServer([[404, { detail: 'no personal stream', field: 'client_id' }]]);
  await assert.rejects(renderLast({ fetchFn: s.fetchFn, clientId: 'gone', format: 'midi' }), (err) => err.field === 'client_id');
  await assert.rejects(renderLast({ fetchFn: s.fetchFn, clientId: null, format: 'midi' }), /Nothing has played/);
});
