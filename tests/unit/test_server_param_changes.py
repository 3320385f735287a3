"""Parameter changes: debounced into one application, every message acknowledged with the stream's
effective_seq, nothing changed by an invalid message, nothing acknowledged after the stream is gone."""

from __future__ import annotations

import json

import pytest

from auralis.music.params import MusicParams
from auralis.server.param_changes import ParamChanges
from auralis.server.protocol import ProtocolError


class Timer:
    """A fake `call_later`: the test fires the callback itself."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, object]] = []
        self.cancelled = 0

    def __call__(self, delay: float, callback):
        self.calls.append((delay, callback))
        timer = self

        class Handle:
            def cancel(self) -> None:
                timer.cancelled += 1

        return Handle()


def make(apply_result: int | None = 42, params: MusicParams | None = None, preset: str | None = None):
    applied: list[MusicParams] = []
    acks: list[dict] = []
    timer = Timer()

    def apply(p: MusicParams) -> int | None:
        applied.append(p)
        return apply_result

    changes = ParamChanges(
        params or MusicParams(),
        preset,
        debounce_s=0.2,
        apply=apply,
        acknowledge=lambda frame: acks.append(json.loads(frame)),
        call_later=timer,
    )
    return changes, applied, acks, timer


def test_changes_within_the_debounce_are_applied_once_and_each_acknowledged() -> None:
    changes, applied, acks, timer = make(apply_result=17)
    changes.update({"bpm": 45})
    changes.update({"intensity": 0.9})
    changes.select_preset("bright")
    assert len(timer.calls) == 1 and timer.calls[0][0] == 0.2  # one timer for the batch
    assert applied == [] and changes.pending
    timer.calls[0][1]()  # the debounce expires
    assert len(applied) == 1
    expected = MusicParams().with_changes(bpm=45, intensity=0.9).with_preset("bright")
    assert applied[0] == expected
    assert len(acks) == 3
    for ack in acks:
        assert ack["type"] == "params" and ack["effective_seq"] == 17 and ack["preset"] == "bright"
        assert ack["params"] == expected.as_dict()
    assert changes.params == expected and changes.preset == "bright" and not changes.pending


def test_a_key_change_keeps_the_preset_another_change_drops_it() -> None:
    changes, _, acks, timer = make(params=MusicParams().with_preset("bright"), preset="bright")
    changes.update({"key": 69})
    timer.calls[-1][1]()
    assert acks[-1]["preset"] == "bright" and acks[-1]["params"]["key"] == 69
    changes.update({"bpm": 71})
    timer.calls[-1][1]()
    assert acks[-1]["preset"] is None and acks[-1]["params"]["bpm"] == 71.0


def test_an_invalid_change_changes_nothing() -> None:
    changes, applied, acks, timer = make()
    changes.update({"bpm": 45})
    with pytest.raises(ProtocolError):
        changes.update({"bpm": 10_000})
    timer.calls[0][1]()
    assert len(applied) == 1 and applied[0].bpm == 45
    assert len(acks) == 1  # the refused message is not acknowledged


def test_nothing_is_acknowledged_when_the_stream_is_gone() -> None:
    before = MusicParams()
    changes, applied, acks, timer = make(apply_result=None, params=before)
    changes.update({"bpm": 45})
    timer.calls[0][1]()
    assert len(applied) == 1 and acks == []
    assert changes.params == before  # not in effect


def test_cancel_drops_the_pending_batch() -> None:
    changes, applied, acks, timer = make()
    changes.update({"bpm": 45})
    changes.cancel()
    assert timer.cancelled == 1 and not changes.pending
    changes.flush()  # a timer that fired anyway applies nothing
    assert applied == [] and acks == []


def test_uses_the_event_loop_by_default() -> None:
    import asyncio

    async def main() -> list[dict]:
        acks: list[dict] = []
        changes = ParamChanges(
            MusicParams(), None, debounce_s=0.01, apply=lambda p: 5, acknowledge=lambda f: acks.append(json.loads(f))
        )
        changes.update({"bpm": 50})
        for _ in range(200):
            if acks:
                break
            await asyncio.sleep(0.01)
        return acks

    acks = asyncio.run(main())
    assert [a["effective_seq"] for a in acks] == [5]
