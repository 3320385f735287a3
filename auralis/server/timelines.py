"""Listeners' parameter timelines, by ``client_id``: live sessions' and recently ended ones'.

A live personal session answers with its stream's timeline (`ListenerSession.timeline`); when it
ends, the session leaves its last timeline here so the page can still download what was heard
(kept ``keep_s`` seconds, at most ``max_kept``, oldest first out).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

from auralis.music.timeline import Timeline


class SessionTimelines:
    def __init__(self, sessions: set[Any], *, keep_s: float = 3600.0, max_kept: int = 1000) -> None:
        self._sessions = sessions  # the hub's live sessions
        self.keep_s = keep_s
        self.max_kept = max_kept
        self._ended: OrderedDict[str, tuple[float, Timeline]] = OrderedDict()

    def get(self, client_id: str) -> Timeline | None:
        for session in list(self._sessions):
            if getattr(session, "client_id", None) == client_id:
                timeline = getattr(session, "timeline", None)  # personal sessions only
                if timeline is not None:
                    return timeline
        self._prune()
        kept = self._ended.get(client_id)
        return kept[1] if kept is not None else None

    def keep(self, client_id: str, timeline: Timeline) -> None:
        """A session ended: remember its last timeline for a while."""
        self._ended[client_id] = (time.monotonic(), timeline)
        self._ended.move_to_end(client_id)
        self._prune()

    def _prune(self) -> None:
        now = time.monotonic()
        while self._ended:
            cid, (at, _) = next(iter(self._ended.items()))
            if len(self._ended) <= self.max_kept and now - at <= self.keep_s:
                break
            del self._ended[cid]
