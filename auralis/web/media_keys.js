// Space (when nothing interactive has focus) and the media keys (Media Session API) toggle playback;
// the Media Session also shows the mood as the title and "Auralis" as the artist.

const INTERACTIVE = 'input, select, textarea, button, summary, a[href], [contenteditable], [role="button"]';

/** Whether a keydown should toggle playback: Space, with no interactive element as its target. */
export function isSpaceToggle(event) {
  if (event.code !== 'Space' && event.key !== ' ') return false;
  if (event.repeat || event.ctrlKey || event.metaKey || event.altKey) return false;
  const t = event.target;
  return !(t && typeof t.closest === 'function' && t.closest(INTERACTIVE));
}

export function bindSpace(doc, toggle) {
  doc.addEventListener('keydown', (event) => {
    if (!isSpaceToggle(event)) return;
    event.preventDefault(); // no page scroll
    toggle();
  });
}

export class MediaKeys {
  constructor(nav, { play, pause, stop }) {
    this.session = nav && nav.mediaSession ? nav.mediaSession : null;
    this.title = null;
    if (!this.session) return;
    const handlers = { play, pause, stop: stop || pause };
    for (const [action, fn] of Object.entries(handlers)) {
      try {
        this.session.setActionHandler(action, () => fn());
      } catch {
        /* an action this browser does not know */
      }
    }
  }

  /** Title (the mood), artist "Auralis", and whether it plays. */
  update(title, playing, album = '') {
    if (!this.session) return;
    if (title !== this.title && typeof window.MediaMetadata === 'function') {
      this.title = title;
      this.session.metadata = new window.MediaMetadata({ title, artist: 'Auralis', album });
    }
    const state = playing ? 'playing' : 'paused';
    if (this.session.playbackState !== state) this.session.playbackState = state;
  }
}
