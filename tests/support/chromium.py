"""How tests and benchmarks start Chromium: Debian's `chromium` (never `playwright install`),
with the same switches everywhere."""

from __future__ import annotations

import os
from collections.abc import Sequence

CHROMIUM = os.environ.get("AURALIS_CHROMIUM", "/usr/bin/chromium")

#: Browser UI that headless Chromium (156) builds for every new window: the omnibox popup's
#: WebUI, some 400 chrome:// module requests in a renderer of its own, loaded while the page
#: under test starts. On 2 cores it took the CPU the page's start-up needed (the time to first
#: audio, p50 436 -> 306 ms without it; docs/benchmarks.md). A listener's browser loads it once,
#: when the window opens, not with each page.
BROWSER_UI_FEATURES = ("WebUIOmniboxPopup", "WebUIOmniboxAimPopup", "WebUIOmniboxFullPopup")


def chromium_args(*, autoplay: bool = True, disable_features: Sequence[str] = ()) -> list[str]:
    """The switches: no sandbox (root in CI), no background networking, the browser UI above
    off, and with `autoplay` audio that starts without a click. `disable_features` adds to the
    one --disable-features switch (Chromium keeps only the last of repeated switches)."""
    args = ["--no-sandbox", "--disable-background-networking",
            "--disable-features=" + ",".join((*BROWSER_UI_FEATURES, *disable_features))]
    if autoplay:
        args.append("--autoplay-policy=no-user-gesture-required")
    return args
