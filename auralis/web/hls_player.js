// HLS playback of a station in an <audio> element: natively where the browser plays HLS
// (canPlayType 'application/vnd.apple.mpegurl': Safari, iOS, Android), otherwise through hls.js
// (vendor/hls.mjs, vendored and pinned; loaded only when needed) over Media Source Extensions.

export const HLS_TYPE = 'application/vnd.apple.mpegurl';

/**
 * How this browser plays HLS: 'native', 'hls.js' (MSE available), or null (it cannot).
 * `avoidNative`: the native player failed here before (Chromium's is new), so use hls.js if it can.
 */
export function hlsMode(canPlayType, mseSupported, avoidNative = false) {
  const native = canPlayType(HLS_TYPE);
  const canNative = native === 'probably' || native === 'maybe';
  if (canNative && !(avoidNative && mseSupported)) return 'native';
  return mseSupported ? 'hls.js' : null;
}

function mseAvailable(win) {
  const MS = win.ManagedMediaSource || win.MediaSource;
  return Boolean(MS && typeof MS.isTypeSupported === 'function' && MS.isTypeSupported('audio/mp4; codecs="mp4a.40.2"'));
}

/**
 * Play `url` in `audio`; returns { mode, detach }: detach stops it and frees hls.js.
 * `onError(message)` is told about a fatal hls.js error. `importHls` loads hls.js (a test seam).
 */
export async function attachHls(audio, url, { onError = () => {}, avoidNative = false, importHls = () => import('./vendor/hls.mjs') } = {}) {
  const win = audio.ownerDocument.defaultView;
  const mode = hlsMode((t) => audio.canPlayType(t), mseAvailable(win), avoidNative);
  if (mode === null) throw new Error('this browser cannot play HLS');
  if (mode === 'native') {
    audio.src = url;
    return { mode, detach: () => { audio.removeAttribute('src'); audio.load(); } };
  }
  const { default: Hls } = await importHls();
  // No worker: the page's CSP allows scripts from 'self' only, and hls.js builds its worker from a blob.
  const hls = new Hls({ enableWorker: false, lowLatencyMode: false });
  hls.on(Hls.Events.ERROR, (_event, data) => {
    if (data && data.fatal) onError(`${data.type}: ${data.details}`);
  });
  hls.loadSource(url);
  hls.attachMedia(audio);
  return { mode, detach: () => { hls.destroy(); audio.removeAttribute('src'); audio.load(); } };
}
