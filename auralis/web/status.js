// What the status line says, from the page's state: honest, and never alarming without cause.
// Pure, so Node tests check every case. Returns [data-state, text]; data-state is one of
// connected | buffering | disconnected | paused | ready | offline.

/**
 * `s`: {fatal, offline, sleepEnded, userPaused, audioBlocked, wsOpen, reconnecting, reconnectInS,
 * everConnected, serverState, playerState, waitingForClick}
 */
export function statusView(s) {
  if (s.fatal) return ['disconnected', `Stopped: ${s.fatal}`];
  if (s.sleepEnded) return ['paused', 'Stopped by the sleep timer'];
  if (s.userPaused) return ['paused', 'Paused'];
  if (s.offline) return ['offline', 'Offline · waiting for the network'];
  if (s.audioBlocked) return ['ready', 'Ready · press Play to listen'];
  if (!s.wsOpen) {
    if (s.reconnecting && s.everConnected) {
      const t = s.reconnectInS >= 0.5 ? ` in ${s.reconnectInS.toFixed(0)} s` : '…';
      return ['disconnected', `Disconnected · reconnecting${t}`];
    }
    if (s.everConnected) return ['disconnected', 'Disconnected · reconnecting…'];
    if (s.reconnecting) return ['disconnected', 'Cannot reach the server · retrying…'];
    return ['buffering', 'Connecting…'];
  }
  if (s.serverState === 'buffering') return ['buffering', 'Buffering (server catching up)…'];
  if (s.playerState !== 'playing') return ['buffering', 'Buffering…'];
  return ['connected', 'Playing'];
}

/** The page title: state and mood, e.g. "Playing · Focus — Auralis". */
export function pageTitle(stateWord, moodLabel) {
  return `${stateWord} · ${moodLabel} — Auralis`;
}
