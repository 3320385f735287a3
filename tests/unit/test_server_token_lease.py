"""The token lease: expiry at `exp` (plus leeway) with a fake timer, renewal by a fresh token of
the same subject, and refusals that change nothing."""

from __future__ import annotations

import pytest

from auralis.server.security import AuthError, TokenVerifier
from auralis.server.token_lease import SubjectMismatch, TokenLease
from tests.support.production import SECRET, WRONG_SECRET, make_token


class Clock:
    def __init__(self, t: float) -> None:
        self.t = t
        self.timers: list[list] = []  # [due, callback, cancelled]

    def now(self) -> float:
        return self.t

    def call_later(self, delay: float, callback):
        timer = [self.t + delay, callback, False]
        self.timers.append(timer)

        class Handle:
            def cancel(self) -> None:
                timer[2] = True

        return Handle()

    def advance(self, seconds: float) -> None:
        end = self.t + seconds
        while True:
            due = [t for t in self.timers if not t[2] and t[0] <= end]
            if not due:
                break
            timer = min(due, key=lambda t: t[0])
            timer[2] = True
            self.t = max(self.t, timer[0])
            timer[1]()
        self.t = end


def lease(exp_in: float, clock: Clock, expired: list[float], leeway: float = 0.0) -> TokenLease:
    import jwt

    verifier = TokenVerifier(secret=SECRET, leeway_sec=leeway)
    token = make_token(exp_in=exp_in)
    claims = jwt.decode(token, options={"verify_signature": False})
    clock.t = float(claims["exp"]) - exp_in
    return TokenLease(verifier, claims, on_expiry=lambda: expired.append(clock.t), call_later=clock.call_later, now=clock.now)


def test_expires_at_exp() -> None:
    clock, expired = Clock(0), []
    held = lease(30, clock, expired)
    clock.advance(29.9)
    assert expired == []
    clock.advance(0.2)
    assert expired == [held.expires_at] and held.expired


def test_leeway_extends_the_expiry() -> None:
    clock, expired = Clock(0), []
    held = lease(30, clock, expired, leeway=5)
    clock.advance(34)
    assert expired == []
    clock.advance(1.5)
    assert expired == [held.expires_at]


def test_a_fresh_token_moves_the_expiry() -> None:
    clock, expired = Clock(0), []
    held = lease(10, clock, expired)
    first = held.expires_at
    clock.advance(5)
    new_exp = held.renew(make_token(exp_in=600))  # real time: its exp is about now + 600
    assert new_exp > first + 100 and held.expires_at == new_exp
    clock.advance(first - clock.t + 10)
    assert expired == []  # the old expiry passed without closing


@pytest.mark.parametrize(
    ("make", "error"),
    [  # made when the test runs: a token made at collection expires in a slow run (600 s)
        (lambda: make_token(exp_in=-60), AuthError),
        (lambda: make_token(WRONG_SECRET), AuthError),
        (lambda: "not.a.jwt", AuthError),
        (lambda: make_token(sub="someone-else"), SubjectMismatch),
    ],
    ids=["expired", "wrong-secret", "malformed", "other-subject"],
)
def test_a_refused_token_changes_nothing(make, error: type) -> None:
    token = make()
    clock, expired = Clock(0), []
    held = lease(10, clock, expired)
    before = held.expires_at
    with pytest.raises(error):
        held.renew(token)
    assert held.expires_at == before
    clock.advance(10.5)
    assert expired == [before]


def test_cancel_stops_the_timer() -> None:
    clock, expired = Clock(0), []
    held = lease(10, clock, expired)
    held.cancel()
    clock.advance(60)
    assert expired == []
