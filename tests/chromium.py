"""Debian's Chromium, as the browser tests and ``docs/screenshots.py`` start it through Playwright.

Nothing is downloaded: Playwright drives the system's ``/usr/bin/chromium``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# Chromium 156 runs XSLT by default but lays a removal warning over the top of the page (Chrome 155+
# builds from Google disable XSLT): XSLT is asked for explicitly, and the banner is switched off so
# that a feed in a tab shows the page a reader sees in Firefox or Safari.
XSLT_ARGS = ["--enable-blink-features=XSLT", "--disable-blink-features=GenerateXSLTWarningBanner"]


def launch(playwright: Any, *, xslt: bool = False) -> Any:
    """A headless Chromium browser (with XSLT, for feeds opened in a tab, when `xslt`)."""
    return playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                      args=CHROMIUM_ARGS + (XSLT_ARGS if xslt else []))
