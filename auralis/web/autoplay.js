// Blocked autoplay: until the browser lets audio run, any click or key (except the play button and
// Space, which toggle playback themselves) starts it; after `idleMs` with no gesture the page lets
// go of the server's stream (`onIdle`) until someone presses Play.

export class GestureGate {
  constructor(doc, { onGesture, onIdle, idleMs = 60000 }) {
    Object.assign(this, { doc, onGesture, onIdle, idleMs });
    this.waiting = false;
    this.idleTimer = null;
    this.handler = (event) => {
      const t = event.target;
      if (t && typeof t.closest === 'function' && t.closest('#play-toggle')) return;
      if (event.type === 'keydown' && (event.code === 'Space' || event.key === ' ')) return;
      this.onGesture();
    };
  }

  wait() {
    if (!this.waiting) {
      this.doc.addEventListener('pointerdown', this.handler, true);
      this.doc.addEventListener('keydown', this.handler, true);
      this.waiting = true;
    }
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => {
      this.idleTimer = null;
      this.onIdle();
    }, this.idleMs);
  }

  stop() {
    this.doc.removeEventListener('pointerdown', this.handler, true);
    this.doc.removeEventListener('keydown', this.handler, true);
    this.waiting = false;
    clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }
}
