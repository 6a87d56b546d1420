"""What the browser tests share besides the Chromium fixture (tests/web/conftest.py): where Chromium is,
the marks that skip without it, and full-page screenshots at phone and desktop widths."""
import os

import pytest

from support import ROOT

CHROMIUM = "/usr/bin/chromium"
SHOTS = ROOT / "test-artifacts" / "screenshots"
WIDTHS = (360, 1280)
MARKS = [pytest.mark.browser,
         pytest.mark.skipif(not os.path.exists(CHROMIUM),
                            reason="browser tests need Debian's chromium at /usr/bin/chromium "
                                   "(apt-get install chromium)")]


def shoot(page, name):
    """Full-page screenshots of the current page at phone and desktop widths."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / ("%s-%d.png" % (name, width))), full_page=True)
    # A 360 px page must not scroll sideways: nothing wider than the screen.
    page.set_viewport_size({"width": 360, "height": 900})
    overflow = page.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 360, "%s is %d px wide on a 360 px phone" % (name, overflow)
