// The streaming protocol's facts and message shapes (websocket-protocol.md), free of browser state.
// Musical facts (modes, ranges, presets) are not here: the server serves them (music.js).

export const STREAM_SAMPLE_RATE = 44100;
export const CHUNK_FRAMES = 4410;

export const CLOSE_NORMAL = 1000;
export const CLOSE_GOING_AWAY = 1001;
export const CLOSE_POLICY = 1008;
export const CLOSE_INTERNAL_ERROR = 1011;
export const CLOSE_TRY_AGAIN_LATER = 1013;

/** Query string for /ws/stream from (already valid) parameters, plus optional seed/token/format. */
export function streamQuery(params, extra = {}) {
  const q = new URLSearchParams();
  q.set('key', String(params.key));
  q.set('mode', params.mode);
  q.set('bpm', String(params.bpm));
  q.set('intensity', String(params.intensity));
  if (params.palette) q.set('palette', params.palette);
  for (const [k, v] of Object.entries(extra)) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  return q.toString();
}

/** A server text frame as an object with a `type`, or null (ignored, as the protocol says). */
export function parseServerMessage(text) {
  let m;
  try {
    m = JSON.parse(text);
  } catch {
    return null;
  }
  return m && typeof m === 'object' && typeof m.type === 'string' ? m : null;
}

const FRIENDLY_ERRORS = {
  RATE_LIMITED: 'Too many changes at once; slow down a little.',
  SOUNDFONT_LOAD_FAILED: 'The server could not load its instruments.',
  SYNTHESIS_TIMEOUT: 'The server is falling behind.',
  UNAUTHORIZED: 'This server needs a listening token.',
};

/** The text shown for an `error` message. */
export function errorText(m) {
  const text = typeof m.message === 'string' ? m.message : 'Unknown error';
  const code = typeof m.code === 'string' ? m.code : 'ERROR';
  const friendly = FRIENDLY_ERRORS[code];
  return `${friendly ? `${friendly} ` : ''}(${code}: ${text})`;
}

/** Whether an `error` means retrying cannot help (a refused token is not transient). */
export function errorIsFatal(m) {
  return m.code === 'UNAUTHORIZED';
}

/**
 * What a close means for the listener: `{text, retry, resetParams}`. `text` is null when there is
 * nothing to explain; `retry` false when trying again cannot help.
 */
export function closeVerdict(code, reason = '') {
  const why = reason ? `: ${reason}` : '';
  switch (code) {
    case CLOSE_TRY_AGAIN_LATER:
      return { text: `The server is at capacity${why}. Retrying shortly.`, retry: true, resetParams: false };
    case CLOSE_POLICY:
      if (/unauthori[sz]ed|token/i.test(reason)) {
        return { text: `The server refused the connection${why}.`, retry: false, resetParams: false };
      }
      // A refused parameter (for example from an old saved setting) must not refuse us forever.
      return {
        text: `The server refused the connection${why}.`,
        retry: true,
        resetParams: /key|mode|bpm|intensity|preset/i.test(reason),
      };
    case CLOSE_INTERNAL_ERROR:
      return { text: `Server error${why}. Reconnecting.`, retry: true, resetParams: false };
    case CLOSE_GOING_AWAY:
      return { text: 'The server is restarting. Reconnecting.', retry: true, resetParams: false };
    default:
      return { text: null, retry: true, resetParams: false };
  }
}
