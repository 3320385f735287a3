// The dashboard's live feed: GET /api/feed, Server-Sent Events read through fetch (so the
// operator's token goes in an Authorization header, which EventSource cannot send).

/** Incremental SSE parser: feed text chunks, get complete events {event, data}. */
export class SseParser {
  constructor() {
    this.buffer = '';
  }

  push(text) {
    this.buffer += text.replace(/\r\n?/g, '\n');
    const events = [];
    let end = this.buffer.indexOf('\n\n');
    while (end >= 0) {
      const block = this.buffer.slice(0, end);
      this.buffer = this.buffer.slice(end + 2);
      let event = 'message';
      const data = [];
      for (const line of block.split('\n')) {
        if (!line || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? '' : line.slice(colon + 1);
        if (value.startsWith(' ')) value = value.slice(1);
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
      if (data.length) events.push({ event, data: data.join('\n') });
      end = this.buffer.indexOf('\n\n');
    }
    return events;
  }
}

/**
 * Seconds to wait after a refused request: the Retry-After header (seconds or HTTP date), else the
 * body's `retry_after`, else `fallbackS`. Always within [1, 3600].
 */
export function parseRetryAfter(header, bodyRetryAfter, fallbackS, nowMs = Date.now()) {
  let s = NaN;
  if (typeof header === 'string' && header.trim()) {
    const h = header.trim();
    if (/^\d+(\.\d+)?$/.test(h)) s = Number(h);
    else {
      const t = Date.parse(h);
      if (!Number.isNaN(t)) s = (t - nowMs) / 1000;
    }
  }
  if (!Number.isFinite(s) && typeof bodyRetryAfter === 'number') s = bodyRetryAfter;
  if (!Number.isFinite(s)) s = fallbackS;
  return Math.min(3600, Math.max(1, Math.ceil(s)));
}

/** Why the feed failed: `retryS` to wait (null: back off), `fatal` when retrying cannot help. */
export class FeedError extends Error {
  constructor(message, { retryS = null, fatal = false, refused = false } = {}) {
    super(message);
    this.retryS = retryS;
    this.fatal = fatal;
    this.refused = refused;
  }
}

/** Open the feed and call `onSample(obj)` for each event until it ends; throws FeedError. */
export async function readFeed(fetchFn, token, onSample, signal) {
  const headers = { Accept: 'text/event-stream' };
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetchFn('/api/feed', { headers, cache: 'no-store', signal });
  } catch (err) {
    throw new FeedError(`/api/feed: network error (${err.message})`);
  }
  if (!res.ok) {
    let body = null;
    try {
      body = await res.json();
    } catch {
      body = null;
    }
    const detail = body && (body.detail || body.error) ? `: ${body.detail || body.error}` : '';
    if (res.status === 401 || res.status === 403) {
      const need = token ? 'a token with the operator role' : 'an operator token (open /debug?token=…)';
      throw new FeedError(`/api/feed: HTTP ${res.status}${detail}. The dashboard needs ${need}`, { fatal: true });
    }
    if (res.status === 429 || res.status === 503) {
      const header = res.headers.get('Retry-After');
      const retryS = parseRetryAfter(header, body && body.retry_after, 30);
      const shown = header ? `Retry-After: ${header}` : `retry_after: ${retryS}`;
      throw new FeedError(`/api/feed: refused (HTTP ${res.status}, ${shown})`, { retryS, refused: true });
    }
    throw new FeedError(`/api/feed: HTTP ${res.status}${detail}`);
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const parser = new SseParser();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new FeedError('/api/feed: the server ended the feed');
    for (const ev of parser.push(decoder.decode(value, { stream: true }))) {
      if (ev.event !== 'sample') continue;
      try {
        onSample(JSON.parse(ev.data));
      } catch {
        /* one bad event: skip it */
      }
    }
  }
}
