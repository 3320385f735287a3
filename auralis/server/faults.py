"""Fault injection for the reliability suite: a development-only test hook, off by default.

With ``AURALIS_FAULT_INJECTION=1`` (refused by the settings in production) the app gains
``POST /debug/fault/{client_id}``: the next synthesis of that listener's stream raises, exactly
as a FluidSynth failure would (`ListenerStream.inject_fault`); with ``?stage=encode`` its
encoder's next chunk raises instead, as a codec failure would. The listener gets
`INTERNAL_ERROR` and is closed with 1011; every other stream goes on. The route is not in the
OpenAPI schema and does not exist at all unless the hook is on. ``POST /debug/fault/station/NAME``
fails a station's next chunk the same way: its listeners get the error and the next listener
restarts it.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, HTTPException

log = logging.getLogger("auralis.server.faults")


def install_fault_injection(app: FastAPI, hub: Any) -> None:
    if hub.settings.env == "production":  # the settings refuse it too; never serve it there
        raise ValueError("fault injection cannot be enabled in production")
    log.warning("fault injection on (AURALIS_FAULT_INJECTION): a test hook, not for production")

    @app.post("/debug/fault/station/{name}", status_code=202, include_in_schema=False)
    async def inject_station_fault(name: str) -> dict[str, str]:
        """Make that station's next synthesis raise: its listeners get the error, the next
        listener restarts it."""
        service = hub.stations
        if service is None or service.hub is None or name not in service.hub:
            raise HTTPException(status_code=404, detail="no such running station")
        service.hub[name].inject_fault(RuntimeError("injected station synthesis fault (AURALIS_FAULT_INJECTION)"))
        log.warning("station fault injected", extra={"event": "fault_injected", "station": name})
        return {"injected": name}

    @app.post("/debug/fault/{client_id}", status_code=202, include_in_schema=False)
    async def inject_fault(client_id: str, stage: str = "render") -> dict[str, str]:
        """Make that listener's next synthesis (or, with stage=encode, encoding) raise."""
        if stage not in ("render", "encode"):
            raise HTTPException(status_code=422, detail="stage must be render or encode")
        for session in list(hub.sessions):
            if session.client_id == client_id and session.stream is not None:
                what = "synthesis" if stage == "render" else "encoder"
                fault = RuntimeError(f"injected {what} fault (AURALIS_FAULT_INJECTION)")
                session.stream.inject_fault(fault, stage=stage)
                log.warning(
                    "fault injected", extra={"event": "fault_injected", "client_id": client_id}
                )
                return {"injected": client_id}
        raise HTTPException(status_code=404, detail="no such listener")
