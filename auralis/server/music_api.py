"""``GET /api/music``: the musical facts (modes, keys, ranges, defaults, presets) the page builds
its controls from. They live in `auralis.music.params` only; this route serves them as they are."""

from __future__ import annotations

import json

from fastapi import APIRouter
from fastapi.responses import Response

from auralis.music.params import music_facts


def music_router() -> APIRouter:
    router = APIRouter()
    body = json.dumps(music_facts(), separators=(",", ":")).encode()  # facts never change at run time

    @router.get(
        "/api/music",
        tags=["client"],
        response_class=Response,
        responses={200: {"content": {"application/json": {}}, "description": "Modes, keys, ranges, defaults, presets"}},
    )
    async def get_music() -> Response:
        """The musical facts: modes (with their character), keys, parameter ranges, defaults and
        presets (with a one-line description), in the order a page shows them."""
        return Response(body, media_type="application/json")

    return router
