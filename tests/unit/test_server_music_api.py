"""GET /api/music serves the musical facts of auralis.music.params, and nothing else holds them."""

from __future__ import annotations

import json
import re
from pathlib import Path

from fastapi.testclient import TestClient

from auralis.music.params import BPM_MAX, MODES, PRESETS, MusicParams, music_facts
from auralis.server.app import create_app

REPO = Path(__file__).resolve().parents[2]


def test_music_facts_are_served_as_params_py_holds_them():
    with TestClient(create_app()) as client:
        r = client.get("/api/music")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    facts = r.json()
    assert facts == music_facts()
    assert [m["name"] for m in facts["modes"]] == list(MODES)
    assert "ionian" in [m["name"] for m in facts["modes"]]
    assert facts["defaults"] == MusicParams().as_dict()
    assert facts["ranges"]["bpm"]["max"] == BPM_MAX
    assert {p["name"]: p["params"] for p in facts["presets"]} == PRESETS
    assert all(p["description"] for p in facts["presets"]) and all(m["character"] for m in facts["modes"])


def test_the_page_copies_no_musical_fact():
    """No client file names a mode (they come from /api/music); the JS tests' fixture matches the server."""
    web = REPO / "auralis" / "web"
    for path in [*web.glob("*.js"), *web.glob("*.html")]:
        text = path.read_text()
        for mode in MODES:
            assert not re.search(rf"['\"]{mode}['\"]", text), f"{path.name} names the mode {mode}"
    fixture = (REPO / "tests" / "js" / "facts.mjs").read_text()
    body = fixture[fixture.index("export const FACTS = ") + len("export const FACTS = "):].rstrip().rstrip(";")
    assert json.loads(body) == music_facts(), "regenerate tests/js/facts.mjs from music_facts()"
