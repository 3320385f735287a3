// What the page starts the moment it is parsed, before its main script (a dozen modules) has
// loaded: the AudioContext and the worklet's own modules, the musical facts (GET /api/music) and
// the format check (AudioDecoder.isConfigSupported). Each is on the way to the first sound and
// needs nothing of the page, so it runs while the rest of the page loads. index.html runs this
// module before the main script (audio_client_worklet.js), which takes the results from here.
import { supportedFormats } from './decoder.js';
import { fetchMusicFacts } from './music.js';
import { Player } from './player.js';
import { DEFAULT_VOLUME } from './settings.js';

/** Why this browser cannot play the stream, or null. */
export function unsupportedReason(win = window) {
  if (!('WebSocket' in win)) return 'This browser has no WebSocket support.';
  const Ctx = win.AudioContext || win.webkitAudioContext;
  if (!Ctx) return 'This browser has no Web Audio support.';
  if (typeof win.AudioWorkletNode !== 'function' || !('audioWorklet' in Ctx.prototype)) {
    if (win.isSecureContext === false) {
      return 'Audio playback needs a secure (https) connection; this page was opened over plain http.';
    }
    return 'This browser has no AudioWorklet support.';
  }
  return null;
}

/** Settles without ever rejecting: {value} or {error}, so nothing is an unhandled rejection
 * before the page script takes it. */
function settled(promise) {
  return promise.then((value) => ({ value }), (error) => ({ error }));
}

const supported = unsupportedReason() === null;
const token = new URLSearchParams(window.location.search).get('token');

/** The page's audio graph (player.js); the page script sets its callbacks. */
export const player = new Player();
/** The audio graph's setup: {value} once the worklet node exists, {error} if it cannot start; null
 * in a browser that cannot play. */
export const audioReady = supported ? settled(player.setup(DEFAULT_VOLUME)) : null;
/** The first attempt at the musical facts ({value: MusicFacts} or {error}); null when unsupported. */
export const firstFacts = supported ? settled(fetchMusicFacts(window.fetch.bind(window), token)) : null;
/** The formats this browser decodes, best first (decoder.js). */
export const formats = supported ? supportedFormats(window) : Promise.resolve(['json']);
