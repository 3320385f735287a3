// "Download the last 10 minutes": the page asks the server for its own stream's parameter
// timeline (GET /api/sessions/{client_id}/timeline), has the span rendered (POST /api/renders),
// follows its progress (GET /api/renders/{id}) and hands over the file (docs/renders.md).

export const DOWNLOAD_MINUTES = 10;
export const POLL_MS = 500;

/** The span of the last `minutes` before `end` seconds (from 0 when the stream is younger). */
export function lastSpan(end, minutes = DOWNLOAD_MINUTES) {
  if (typeof end !== 'number' || !Number.isFinite(end) || end <= 0) return null;
  const to = Math.round(end * 10) / 10;
  return { from: Math.max(0, Math.round((to - minutes * 60) * 10) / 10), to };
}

/** A failed step, with the server's reason (and the field it named). */
export class DownloadError extends Error {
  constructor(message, { status = 0, field = null, retryAfter = null } = {}) {
    super(message);
    this.status = status;
    this.field = field;
    this.retryAfter = retryAfter;
  }
}

async function answer(res, what) {
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = null;
  }
  if (res.ok) return body;
  if (res.status === 429) {
    const s = body && Number.isFinite(body.retry_after) ? body.retry_after : null;
    throw new DownloadError(`Too many downloads; try again in ${s ?? 'a few'} s.`, { status: 429, retryAfter: s });
  }
  const detail = body && body.detail ? body.detail : `HTTP ${res.status}`;
  throw new DownloadError(`${what}: ${detail}`, { status: res.status, field: body ? body.field ?? null : null });
}

/**
 * Render the last `minutes` of the stream `clientId` as `format` (ogg, wav, midi). `onProgress`
 * gets 0..1; resolves with the finished job ({ file, filename, ... }). `wait(ms)` is the pause
 * between progress checks (a Promise; injectable for tests).
 */
export async function renderLast({ fetchFn, clientId, format, minutes = DOWNLOAD_MINUTES, token = null,
  onProgress = () => {}, wait = (ms) => new Promise((r) => { setTimeout(r, ms); }) }) {
  if (!clientId) throw new DownloadError('Nothing has played yet.');
  const headers = { Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const timeline = await answer(
    await fetchFn(`/api/sessions/${encodeURIComponent(clientId)}/timeline`, { headers, cache: 'no-store' }),
    'The server has no record of this stream',
  );
  const span = lastSpan(timeline.end, minutes);
  if (!span) throw new DownloadError('Nothing has played yet.');
  let job = await answer(await fetchFn('/api/renders', {
    method: 'POST',
    headers: { ...headers, 'Content-Type': 'application/json' },
    body: JSON.stringify({ timeline, from: span.from, to: span.to, format }),
  }), 'The server refused the download');
  onProgress(job.progress || 0, job);
  while (job.status !== 'done') {
    if (job.status === 'failed') throw new DownloadError(`The render failed: ${job.error || 'unknown reason'}`);
    await wait(POLL_MS);
    job = await answer(await fetchFn(job.url, { headers, cache: 'no-store' }), 'Lost the download');
    onProgress(job.progress || 0, job);
  }
  return job;
}
