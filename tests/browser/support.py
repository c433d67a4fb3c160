"""What the browser tests share: the test users' password, logging in through the login page, running
database work off Playwright's thread, and the one measure of a page too wide for its screen."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

from django.db import connections

PASSWORD = "pw-browser-0123"

# Against the layout viewport (documentElement.clientWidth), never window.innerWidth: a mobile browser
# zooms out to fit what overflows, so on a phone innerWidth grows with the overflow itself and
# `scrollWidth > innerWidth` could never hold.
SIDEWAYS_OVERFLOW_JS = "document.documentElement.scrollWidth - document.documentElement.clientWidth"


def sideways_overflow(page) -> int:
    """How many CSS pixels the page is wider than its screen (0 or less: it fits)."""
    return page.evaluate(SIDEWAYS_OVERFLOW_JS)


def log_in(browser, base_url: str, username: str, width: int = 1280, height: int = 900):
    """A new English browser context logged in as `username` through the login page."""
    context = browser.new_context(viewport={"width": width, "height": height}, locale="en-US")
    page = context.new_page()
    page.goto(f"{base_url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(re.compile(r".*/$"))
    return page


def in_thread(func, *args):
    """Playwright's loop owns this thread: database writes and broadcasts go from another one."""

    def run():
        try:
            return func(*args)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(run).result()
