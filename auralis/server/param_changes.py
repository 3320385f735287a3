"""One listener's parameter changes: validated, debounced, applied at once, acknowledged.

`update_params` and `select_preset` messages build on the latest requested parameters (pending
ones if any, else those in effect). Changes that arrive within the debounce time of the first are
merged and handed to the stream once; the stream answers with the first chunk seq whose music
follows them (`effective_seq`), and every message of the batch gets its own `params`
acknowledgement carrying that seq. A change that fails validation raises `ProtocolError` and
changes nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from auralis.music.params import MusicParams
from auralis.server.protocol import ProtocolError, matches_preset, params_message

#: (delay_s, callback) -> a handle with cancel(); the event loop's `call_later` by default.
CallLater = Callable[[float, Callable[[], None]], Any]


class ParamChanges:
    def __init__(
        self,
        params: MusicParams,
        preset: str | None,
        *,
        debounce_s: float,
        apply: Callable[[MusicParams], int | None],
        acknowledge: Callable[[str], None],
        call_later: CallLater | None = None,
    ) -> None:
        """`apply` hands parameters to the stream and returns the effective seq (None: the stream
        is gone, nothing is acknowledged); `acknowledge` queues a `params` frame."""
        self.params = params  # in effect
        self.preset = preset
        self.debounce_s = debounce_s
        self._apply = apply
        self._acknowledge = acknowledge
        self._call_later = call_later
        self._pending: MusicParams | None = None
        self._pending_preset: str | None = None
        self._pending_acks = 0
        self._handle: Any = None

    @property
    def pending(self) -> bool:
        return self._handle is not None

    def _target(self) -> tuple[MusicParams, str | None]:
        """The parameters further changes build on: pending ones if any, else those in effect."""
        if self._pending is not None:
            return self._pending, self._pending_preset
        return self.params, self.preset

    def update(self, changes: dict[str, Any]) -> None:
        """An `update_params` message's changes; ProtocolError (nothing changed) if invalid."""
        base, preset = self._target()
        try:
            new = base.with_changes(**changes)
        except ValueError as exc:
            raise ProtocolError(str(exc)) from None
        self._schedule(new, preset if preset and matches_preset(new, preset) else None)

    def select_preset(self, preset: str) -> None:
        base, _ = self._target()
        self._schedule(base.with_preset(preset), preset)

    def _schedule(self, params: MusicParams, preset: str | None) -> None:
        self._pending, self._pending_preset = params, preset
        self._pending_acks += 1
        if self._handle is None:
            call_later = self._call_later or asyncio.get_running_loop().call_later
            self._handle = call_later(self.debounce_s, self.flush)

    def flush(self) -> None:
        """Apply the pending parameters now and acknowledge each message of the batch."""
        self._handle = None
        params, preset, acks = self._pending, self._pending_preset, self._pending_acks
        self._pending, self._pending_preset, self._pending_acks = None, None, 0
        if params is None:
            return
        effective_seq = self._apply(params)
        if effective_seq is None:
            return
        self.params, self.preset = params, preset
        for _ in range(acks):
            self._acknowledge(params_message(params, preset, effective_seq))

    def cancel(self) -> None:
        """Drop pending changes (the session is closing)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._pending, self._pending_preset, self._pending_acks = None, None, 0

    def close(self) -> None:
        """The session has ended: drop pending changes and the session's callbacks. They are
        bound to the session, which holds this object: kept, they would make a reference cycle
        that only the garbage collector frees. Later changes are neither applied nor
        acknowledged."""
        self.cancel()
        self._apply = _stream_gone
        self._acknowledge = _nobody


def _stream_gone(params: MusicParams) -> None:
    return None


def _nobody(frame: str) -> None:
    pass
