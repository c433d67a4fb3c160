"""The shared page components (templates/components/, static/js/app.js) in a real browser.

The component behaviours are shown on one page this test serves through Playwright (never routed by the
app): the real components rendered by Django, with the real app.css and app.js from the live server, so
these tests do not depend on which pages use which component. The shell (menu, language, phone menu) is
tested on a real page. Element screenshots go to test-output/browser/components/; with
UI_SCREENSHOTS_TO_DOCS=1 they refresh docs/ui/ (referenced from docs/ui.md) instead, so a test run does
not rewrite tracked files.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.paginator import Paginator
from django.template import engines
from django.test import Client, RequestFactory
from django.utils import timezone

from tests.browser.support import PASSWORD, sideways_overflow

pytestmark = pytest.mark.browser

DOCS = Path(settings.BASE_DIR) / (
    "docs/ui" if os.environ.get("UI_SCREENSHOTS_TO_DOCS") else "test-output/browser/components"
)

PAGE = """{% load static ui %}<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Components</title>
<link rel="stylesheet" href="/static/css/app.css"></head><body><main id="content">
<section class="card" id="form-demo">
  {% include "components/form_errors.html" with form=form %}
  <form method="get" action="/ui-components/saved/" novalidate>
    {% for f in form %}{% include "components/field.html" with field=f %}{% endfor %}
    <button type="submit">Save</button>
  </form>
</section>
<section id="table-demo">
  <div class="toolbar">
    <input type="search" data-table-search="hosts" aria-label="Filter hosts" placeholder="Filter hosts"></div>
  <div class="table-wrap"><table class="data" data-table id="hosts">
    <thead><tr><th data-sort>Host</th><th data-sort>Memory</th><th>Note</th></tr></thead>
    <tbody>
      <tr><td>rack-2</td><td data-value="65536">64 GiB</td><td>busy</td></tr>
      <tr><td>rack-10</td><td data-value="8192">8 GiB</td><td>spare</td></tr>
      <tr><td>edge-1</td><td data-value="131072">128 GiB</td><td>spare</td></tr>
    </tbody>
  </table></div>
  {% include "components/pager.html" with page=page %}
</section>
<p id="badges">{% include "components/badge.html" with state="running" label="Running" %}
  {% include "components/badge.html" with state="pending" label="Waiting for approval" %}
  {% include "components/badge.html" with state="failed" label="Failed" %}
  {% include "components/badge.html" with state="stopped" label="Stopped" %}</p>
<div id="empty-demo">{% include "components/empty.html" with text=empty action_url="/request/" action_label=go %}</div>
<p><time class="when" datetime="{{ moment.isoformat }}" id="moment">long ago</time></p>
<div class="actions">
  <form method="get" action="/ui-components/stopped/" data-confirm="Force vm-alpha off? Unsaved work is lost.">
    <button type="submit" id="stop">Force off</button></form>
  <form method="get" action="/ui-components/deleted/"
        data-confirm="Delete vm-alpha and its disks? This cannot be undone." data-confirm-name="vm-alpha">
    <button type="submit" class="danger" id="delete">Delete</button></form>
</div>
</main>{% ui_strings %}<script src="/static/js/app.js"></script></body></html>"""


class DemoForm(forms.Form):
    name = forms.CharField(help_text="Lower case letters, digits and dashes.")
    memory = forms.IntegerField(label="Memory (MiB)", min_value=512)
    start = forms.BooleanField(label="Start it when it is made", required=False)


def demo_page() -> str:
    form = DemoForm(data={"name": "", "memory": "100", "start": "on"})
    form.is_valid()
    context = {
        "form": form,
        "page": Paginator(range(60), 20).page(2),
        "moment": timezone.now() - timedelta(minutes=5),
        "empty": "You have no VMs yet.",
        "go": "Request a VM",
    }
    return engines["django"].from_string(PAGE).render(context, request=RequestFactory().get("/ui-components/?q=rack"))


ORIGIN = "http://components.test"
STATIC = Path(settings.BASE_DIR) / "static"


@pytest.fixture
def components(browser):
    """A page of every component, with the repository's app.css and app.js; a form it submits lands on a
    page saying where it went. Served by Playwright itself: no server, no database, so it is quick."""
    html = demo_page()

    def serve(route):
        path = route.request.url.split(ORIGIN, 1)[1]
        if path.startswith("/static/"):
            kind = "text/css" if path.endswith(".css") else "text/javascript"
            return route.fulfill(status=200, content_type=kind, body=(STATIC / path[len("/static/") :]).read_text())
        body = html if path.startswith("/ui-components/?") else f"<h1>{path}</h1>"
        return route.fulfill(status=200, content_type="text/html; charset=utf-8", body=body)

    context = browser.new_context(viewport={"width": 900, "height": 900}, locale="en-US")
    context.route(f"{ORIGIN}/**", serve)
    page = context.new_page()
    page.goto(f"{ORIGIN}/ui-components/?q=rack")
    yield page
    context.close()


def shot(locator, name: str) -> None:
    DOCS.mkdir(parents=True, exist_ok=True)
    locator.screenshot(path=str(DOCS / name))


def test_the_error_summary_takes_focus_and_its_links_reach_the_fields(components):
    page = components
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")
    summary = page.locator(".error-summary")
    assert summary.get_attribute("role") == "alert"
    shot(page.locator("#form-demo"), "form.png")
    summary.get_by_role("link", name="Memory (MiB)").click()
    assert page.evaluate("document.activeElement.id") == "id_memory"
    # Every aria-describedby names an element that is there.
    assert page.evaluate(
        """[...document.querySelectorAll('[aria-describedby]')].every(el =>
             el.getAttribute('aria-describedby').split(' ').every(id => document.getElementById(id)))"""
    )
    # The checkbox sits right before its label, on the same line.
    box = page.locator("#id_start").bounding_box()
    label = page.locator("label[for=id_start]").bounding_box()
    assert 0 <= label["x"] - (box["x"] + box["width"]) < 20 and abs(box["y"] - label["y"]) < 12


def test_a_table_sorts_and_filters_in_the_page(components):
    page = components
    first_column = (
        "[...document.querySelectorAll('#hosts tbody tr:not([hidden]) td:first-child')].map(td => td.textContent)"
    )
    header = page.locator("#hosts th").nth(1)
    header.get_by_role("button", name="Memory").click()
    assert header.get_attribute("aria-sort") == "ascending"
    assert page.evaluate(first_column) == ["rack-10", "rack-2", "edge-1"]  # by data-value, not by text
    header.get_by_role("button").click()
    assert header.get_attribute("aria-sort") == "descending"
    assert page.evaluate(first_column) == ["edge-1", "rack-2", "rack-10"]
    page.locator("#hosts th").first.get_by_role("button").click()
    assert page.evaluate(first_column) == ["edge-1", "rack-2", "rack-10"]  # natural order: 2 before 10
    assert header.get_attribute("aria-sort") is None

    count = page.locator(".table-count")
    assert count.inner_text() == "3 shown" and count.get_attribute("aria-live") == "polite"
    page.get_by_role("searchbox", name="Filter hosts").fill("rack spare")
    assert page.evaluate(first_column) == ["rack-10"]
    assert count.inner_text() == "1 shown"
    page.get_by_role("searchbox", name="Filter hosts").fill("")
    assert count.inner_text() == "3 shown"
    page.locator("#hosts th").nth(1).get_by_role("button").focus()
    shot(page.locator("#table-demo"), "table.png")
    # The pager keeps the query it was rendered under.
    assert page.get_by_role("link", name="Next").get_attribute("href") == "?q=rack&page=3"
    shot(page.locator("#badges"), "badges.png")
    shot(page.locator("#empty-demo"), "empty.png")

    # On a phone the wide table scrolls inside its box; the page itself does not.
    # One word no browser may break, as an SSH key is: the table is wider than a phone.
    page.evaluate("document.querySelector('#hosts td:last-child').textContent = 'ssh-ed25519:' + 'AAAAC3Nza'.repeat(9)")
    page.set_viewport_size({"width": 390, "height": 800})
    assert sideways_overflow(page) <= 0
    assert page.evaluate(
        "document.querySelector('.table-wrap').scrollWidth > document.querySelector('.table-wrap').clientWidth"
    )


def test_a_confirmation_is_asked_in_a_dialog_and_a_delete_needs_the_name(components):
    page = components
    page.on("dialog", lambda d: pytest.fail(f"a native {d.type}() was used"))
    dialog = page.locator("dialog.confirm")

    # Escape cancels: nothing is submitted, focus goes back to the button.
    page.click("#stop")
    assert dialog.is_visible()
    assert page.evaluate("document.activeElement.dataset.role") == "cancel"  # the safe choice first
    assert dialog.get_by_role("button", name="Force off").is_visible()
    page.keyboard.press("Escape")
    assert not dialog.is_visible()
    assert "/ui-components/?" in page.url and page.evaluate("document.activeElement.id") == "stop"

    # Cancel cancels too.
    page.click("#stop")
    dialog.get_by_role("button", name="Cancel").click()
    assert not dialog.is_visible() and "/ui-components/?" in page.url

    # A delete: the confirm button stays off until the exact name is typed.
    page.click("#delete")
    assert page.evaluate("document.activeElement.id") == "confirm-name-input"
    assert dialog.locator(".question").inner_text() == "Delete vm-alpha and its disks? This cannot be undone."
    confirm = dialog.get_by_role("button", name="Delete")
    assert confirm.is_disabled()
    page.keyboard.type("vm-alph")
    assert confirm.is_disabled()
    page.keyboard.type("a")
    assert confirm.is_enabled()
    shot(dialog, "confirm.png")
    confirm.click()
    page.wait_for_url("**/ui-components/deleted/**")


def test_times_stay_relative_in_the_page(components):
    page = components
    page.evaluate("window.ui.refreshTimes()")
    assert page.locator("#moment").inner_text() == "5 minutes ago"
    assert page.locator("#moment").get_attribute("title").startswith(timezone.localdate().isoformat()[:4])
    assert page.evaluate("window.ui.formatWhen(new Date(Date.now() - 30000).toISOString())") == "just now"
    assert page.evaluate("window.ui.formatWhen(new Date(Date.now() + 2 * 3600e3 + 60e3).toISOString())") == "in 2 hours"


def logged_in(browser, web_server, **context_options):
    get_user_model().objects.create_user("ana", "ana@example.org", PASSWORD)
    client = Client()
    assert client.login(username="ana", password=PASSWORD)
    context = browser.new_context(locale="en-US", **context_options)
    host = web_server.url.split("//", 1)[1].split(":")[0]
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "domain": host, "path": "/"}]
    )
    return context


@pytest.mark.django_db(transaction=True)
def test_the_menu_marks_the_page_folds_on_a_phone_and_changes_language_only_by_its_button(browser, web_server):
    context = logged_in(browser, web_server, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{web_server.url}/vms/")
    current = page.locator('nav a[aria-current="page"]')
    assert current.inner_text() == "My VMs"
    assert current.evaluate("a => getComputedStyle(a).fontWeight") == "600"
    assert page.get_by_role("button", name="Menu").is_hidden()  # wide screen: no need to fold
    shot(page.locator("header.topbar"), "menu.png")

    # Keyboard first: the skip link is the first stop and leads to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "content"

    page.select_option("select[name=language]", "vi")
    page.wait_for_timeout(300)
    assert page.evaluate("document.documentElement.lang") == "en"  # choosing is not changing (WCAG 3.2.2)
    page.get_by_role("button", name="Change").click()
    page.wait_for_function("document.documentElement.lang === 'vi'")
    assert page.url.endswith("/vms/")

    # A phone (back in English, for the screenshot): the menu folds behind its button.
    state = context.storage_state()
    state["cookies"] = [c for c in state["cookies"] if c["name"] != settings.LANGUAGE_COOKIE_NAME]
    phone = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, locale="en-US", storage_state=state
    )
    context.close()
    page = phone.new_page()
    page.goto(f"{web_server.url}/vms/")
    button = page.get_by_role("button", name="Menu")
    nav = page.locator("header nav")
    assert button.is_visible() and nav.is_hidden()
    assert button.get_attribute("aria-expanded") == "false"
    assert page.locator("h1").bounding_box()["y"] < 200  # the page starts on the first screen
    button.click()
    assert button.get_attribute("aria-expanded") == "true" and nav.is_visible()
    assert sideways_overflow(page) <= 0
    shot(page.locator("header.topbar"), "menu-phone.png")
    phone.close()
