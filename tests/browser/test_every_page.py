"""Every page of the dashboard, in a real browser, as each kind of person sees it (issue #19).

For each (role, width, language) one test opens all the pages that role may open, on a seeded fleet of
realistic size (tests/browser/pages_data.py), saves a screenshot of each into test-output/browser/pages/
and fails on, for any page:

- overflow: the page scrolls sideways (`documentElement.scrollWidth` wider than the viewport);
- axe: a serious or critical accessibility violation found by axe-core (node_modules/axe-core, injected
  by the test: it is a test tool, never served by the dashboard);
- raw-identifier: internal identifiers in the visible text (`app.model:123`, ISO timestamps, JSON);
- http-5xx: a 5xx answer to the page or to anything it loads;
- console: a console error or an uncaught exception;
- status: the page answered another status than the one listed for it;
- english (Vietnamese only): an English word of the dashboard's own vocabulary (every word of the
  msgids in locale/vi/.../django.po and of the templates' text) left in the text or in a title,
  placeholder, aria-label or alt. Not counted: text in code, pre, kbd, samp, textarea, under
  translate="no" or under another lang="..."; technical terms (ALLOWED_WORDS); acronyms in capitals;
  the seeded data's names; words shorter than 3 letters or that are also Vietnamese (VI_ASCII_SYLLABLES).

Each test collects every problem of every page into one message, so one run shows all of them; the
problems also go to test-output/browser/pages/problems/<role>-<width>-<lang>.json.

Time: about 2.5 minutes for the module on an idle 2-core machine, of which axe is ~40 %, page loads
~30 % and full-page screenshots ~20 %; one server, one seeded fleet and one browser serve all 12
combinations. If it grows too slow, AXE_AT can keep axe to the desktop width.

PAGES below is the list of pages; `test_every_html_page_is_listed` fails when a route of the urlconf is
neither in it nor in NOT_PAGES, so a page added later is checked from the day it is routed.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.browser import pages_data
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, OUTPUT, start_web_server

BASE_DIR = Path(settings.BASE_DIR)
AXE = BASE_DIR / "node_modules" / "axe-core" / "axe.min.js"

ANON, USER, ADMIN = "anonymous", "user", "admin"
SIGNED_IN = (USER, ADMIN)


@dataclass(frozen=True)
class Page:
    slug: str  # the screenshot's name and the page's name in failure messages
    name: str  # URL name, as reverse() takes it
    obj: str = ""  # which seeded object the URL points at (an attribute of pages_data.Seeded)
    query: str = ""
    roles: tuple[str, ...] = SIGNED_IN
    status: tuple[int, ...] = (200,)
    # For a page its scripts draw after "load": what shows it is drawn. Without it the checks would see
    # an empty page or a full one by chance (the API docs draw their operations from a fetched schema).
    ready: str = ""


# fmt: off
PAGES = [
    Page("login", "login", roles=(ANON,)),
    Page("home", "home"),
    Page("vm-list", "vm-list"),
    # The admin sees all 300 VMs: three pages of 100.
    Page("vm-list-page-2", "vm-list", query="page=2", roles=(ADMIN,)),
    Page("vm-list-shared", "vm-list", query="scope=shared", roles=(USER,)),
    Page("vm-detail", "vm-detail", obj="vm"),
    Page("vm-console", "vm-console", obj="vm"),
    Page("vm-snapshots", "vm-snapshots", obj="vm"),
    Page("vm-disks", "vm-disks", obj="vm"),
    Page("vm-network", "vm-network", obj="vm"),
    Page("vm-settings", "vm-settings", obj="vm"),
    # Deleted VMs are out of every list; whether their page still answers is the page's choice.
    Page("vm-detail-deleted", "vm-detail", obj="deleted_vm", status=(200, 404)),
    # The VM is stopped: the console page has to say there is no display, without errors.
    Page("vm-graphics", "vm-graphics", obj="stopped_vm"),
    Page("vm-graphics-vnc", "vm-graphics-vnc", obj="stopped_vm"),
    Page("vm-graphics-spice", "vm-graphics-spice", obj="stopped_vm"),
    Page("not-found", "vm-detail", obj="missing_vm", status=(404,)),
    Page("forbidden", "manage-templates", roles=(USER,), status=(403,)),
    Page("request-new", "portal:request-new"),
    Page("request-list", "portal:request-list"),
    Page("request-list-all-page-2", "portal:request-list", query="all=1&page=2", roles=(ADMIN,)),
    Page("request-detail", "portal:request-detail", obj="request"),
    Page("inbox", "portal:inbox", roles=(ADMIN,)),
    Page("fleet", "portal:fleet", roles=(ADMIN,)),
    Page("fleet-host", "portal:fleet-host", obj="host", roles=(ADMIN,)),
    Page("audit", "portal:audit"),
    Page("audit-page-2", "portal:audit", query="page=2", roles=(ADMIN,)),
    Page("job-list", "job-list"),
    Page("job-list-all-page-2", "job-list", query="all=1&page=2", roles=(ADMIN,)),
    Page("job-detail", "job-detail", obj="job"),
    Page("manage-templates", "manage-templates", roles=(ADMIN,)),
    Page("manage-template-new", "manage-template-new", roles=(ADMIN,)),
    Page("manage-template-import", "manage-template-import", roles=(ADMIN,)),
    Page("manage-template-edit", "manage-template-edit", obj="template", roles=(ADMIN,)),
    Page("manage-template-preview", "manage-template-preview", obj="template", roles=(ADMIN,)),
    Page("manage-images", "manage-images", roles=(ADMIN,)),
    Page("manage-storage", "manage-storage", roles=(ADMIN,)),
    Page("manage-storage-host", "manage-storage-host", obj="host", roles=(ADMIN,)),
    # The seeded hosts have no libvirtd: reading the volumes fails, and the page says so with the host's
    # own message as machine text.
    Page("manage-storage-volumes", "manage-storage-host", obj="host", query="pool=default", roles=(ADMIN,)),
    Page("manage-networks", "manage-networks", roles=(ADMIN,)),
    Page("manage-hosts", "manage-hosts", roles=(ADMIN,)),
    Page("manage-host-new", "manage-host-new", roles=(ADMIN,)),
    Page("manage-host", "manage-host", obj="host", roles=(ADMIN,)),
    Page("manage-host-ssh", "manage-host", obj="ssh_host", roles=(ADMIN,)),
    Page("api-docs", "api-docs", roles=(ADMIN,), ready="#swagger-ui .opblock"),
    Page("admin", "admin:index", roles=(ADMIN,)),
]

# Routes that are not pages, with why. "post": a GET answers 405 (checked below); "data": a GET
# answers something other than HTML (checked below); the others say why they are not checked.
NOT_PAGES = {
    "logout": "post",
    "set_language": "post: the language form's target (a GET only redirects)",
    "api-schema": "data",
    "portal:fleet-summary": "data",
    "portal:request-cancel": "post",
    "portal:request-approve": "post",
    "portal:request-reject": "post",
    "vm-action": "post",
    "vm-disks-change": "post",
    "vm-share": "post",
    "vm-settings-size": "post: the Settings tab's size form",
    "vm-rename": "post: the Settings tab's name form",
    "vm-clone": "post: the Settings tab's Clone form",
    "vm-move": "post: the Settings tab's Move form",
    "vm-save-template": "post: the Settings tab's Save as template form",
    "manage-host-maintenance": "post: the host page's Maintenance buttons",
    "vm-autostart": "post: the Settings tab's autostart form",
    "vm-notes": "post: the Settings tab's notes and tags form",
    "vm-unshare": "post",
    "vm-snapshot-create": "post",
    "vm-snapshot-revert": "post",
    "vm-snapshot-delete": "post",
    "vm-interface-add": "post",
    "vm-interface-remove": "post",
    "vm-interface-link": "post",
    "vm-console-token": "post",
    "vm-console-vv": "download: a virt-viewer file, read from the VM's host",
    "vm-boot-order": "post",
    "vm-kernel": "post",
    "vm-xml-preview": "post: answers the Settings tab with the diff",
    "vm-xml-apply": "post",
    "manage-image-copy": "post",
    "manage-image-delete": "post",
    "manage-image-publish": "post",
    "manage-storage-refresh": "post",
    "manage-storage-volume-delete": "post",
    "manage-network-action": "post",
    "manage-host-check": "post",
    "manage-host-trust": "post",
    "manage-host-enable": "post",
    "manage-host-delete": "post",
    "job-retry": "post",
    "job-cancel": "post",
}
# fmt: on

ROLES = (ANON, USER, ADMIN)
WIDTHS = {"desktop": 1280, "phone": 390}
LANGUAGES = ("en", "vi")
COMBINATIONS = [(role, width, lang) for role in ROLES for width in WIDTHS for lang in LANGUAGES]

# (c): what internal identifiers look like when they leak into the text.
RAW_PATTERNS = {
    "object reference": re.compile(r"\b[a-z_]+\.[a-z_]+:\d+\b"),
    "ISO timestamp": re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}"),
    "JSON object": re.compile(r"\{\s*\"[^\"\n]{1,80}\"\s*:"),
}

# (f): words that stay as they are in Vietnamese: technical terms and the loanwords the Vietnamese
# catalog itself uses. Lower case; a hyphenated term is matched whole.
ALLOWED_WORDS = {
    "vm", "vms", "vcpu", "vcpus", "cpu", "cpus", "mib", "gib", "tib", "kib", "byte", "bytes", "ip", "ssh", "vnc",
    "spice", "iso", "api", "uri", "url", "libvirt", "kvm", "qemu", "tcg", "uuid", "qcow2", "raw", "x86_64", "xml",
    "bios", "uefi", "tls", "sha-256", "openssh", "cloud-init", "novnc", "spice-html5", "virt-viewer",
    "remote-viewer", "qemu-img", "token", "console", "worker", "domain", "volume", "loopback", "balloon",
    "redis", "celery", "django", "swagger", "openapi", "rest", "web", "initrd", "virtio", "linux", "windows",
    "kernel", "bus", "menu", "cloud", "virsh", "dumpxml", "intel", "realtek",
}  # fmt: skip
# Terms the Vietnamese catalog keeps in English inside its own sentences ("với memory balloon").
ALLOWED_PHRASES = ("memory balloon", "backing file", "core dump", "libvirt network")
# Vietnamese syllables written with ASCII letters only that are also English words: never flagged.
VI_ASCII_SYLLABLES = {
    "an", "anh", "ban", "bang", "bat", "cam", "can", "cho", "chi", "con", "dam", "dan", "gap", "hai", "ham", "hang",
    "hat", "hay", "hoa", "hon", "khi", "lai", "lam", "lan", "lap", "long", "mai", "man", "mang", "mat", "may", "nam",
    "qua", "sai", "sang", "sao", "sau", "tai", "tam", "tan", "tap", "than", "the", "theo", "thi", "tho", "tim", "tin",
    "toi", "ton", "top", "tra", "trong", "van", "xem", "xin",
}  # fmt: skip
# A word: letters, optionally joined by hyphens; anything with digits, dots, slashes, @ or _ is a name or
# an identifier, not a word of the interface.
TOKEN = re.compile(r"[^\s,;:!?()\[\]{}\"'«»“”‘’…|<>=+*#&]+")
WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")

AXE_IMPACTS = ("serious", "critical")
# Which widths axe runs at (the module's docstring says what it costs).
AXE_AT = {"desktop": True, "phone": True}


# --- the English vocabulary of the interface ------------------------------------------------------


def _po_msgids(path: Path) -> list[str]:
    """The msgid and msgid_plural strings of a .po file (continuation lines joined)."""
    msgids, current, key = [], "", None
    for line in path.read_text(encoding="utf-8").splitlines() + [""]:
        m = re.match(r'(msgid|msgid_plural|msgstr(?:\[\d+\])?) "(.*)"$', line)
        if m:
            if key in ("msgid", "msgid_plural") and current:
                msgids.append(current)
            key, current = m.group(1), m.group(2)
        elif key and re.match(r'"(.*)"$', line):
            current += line[1:-1]
        else:
            if key in ("msgid", "msgid_plural") and current:
                msgids.append(current)
            key, current = None, ""
    return [bytes(s, "utf-8").decode("unicode_escape").encode("latin-1").decode("utf-8") for s in msgids]


def _template_texts(root: Path) -> list[str]:
    """The text people read in the templates: text between tags, and the attributes shown or spoken."""
    texts = []
    for path in root.rglob("*.html"):
        source = path.read_text(encoding="utf-8")
        source = re.sub(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}|{#.*?#}", " ", source, flags=re.S)
        source = re.sub(r"<(script|style)\b.*?</\1>", " ", source, flags=re.S | re.I)
        texts += re.findall(r'\b(?:title|placeholder|aria-label|alt)="([^"]*)"', source)
        source = re.sub(r"{%.*?%}|{{.*?}}", " ", source, flags=re.S)
        texts += re.sub(r"<[^>]*>", " ", source).split("\n")
    return texts


def _words(text: str) -> set[str]:
    text = re.sub(r"%\(\w+\)[sdfr]|%[sd]|\{\w*\}|<[^>]+>", " ", text)
    return {w.lower() for w in re.findall(r"[^\W\d_]+", text) if w.isascii() and len(w) >= 3}


def english_vocabulary() -> set[str]:
    """Every word (ASCII, 3 letters or more) of the English msgids and templates, less the allowed ones."""
    words = set()
    for text in _po_msgids(BASE_DIR / "locale" / "vi" / "LC_MESSAGES" / "django.po") + _template_texts(
        BASE_DIR / "templates"
    ):
        words |= _words(text)
    return words - ALLOWED_WORDS - VI_ASCII_SYLLABLES


def english_words_in(text: str, vocabulary: set[str], names: set[str]) -> list[str]:
    found = []
    for phrase in ALLOWED_PHRASES:
        text = re.sub(re.escape(phrase), " ", text, flags=re.I)
    for token in TOKEN.findall(text):
        token = token.strip(".-/")
        if not token or token.lower() in ALLOWED_WORDS or token.lower() in names:
            continue
        if not WORD.fullmatch(token):
            continue  # digits, dots, slashes, @, _: a name, a path, an address, a size
        if token.isupper():
            continue  # an acronym (ACPI, UTC, CD-ROM) or a placeholder (NAME), not a word
        for part in token.split("-"):
            if part.isascii() and len(part) >= 3 and part.lower() in vocabulary and part.lower() not in names:
                found.append(part)
    return found


# --- what runs in the page ------------------------------------------------------------------------

# Text nodes and the attributes people read or hear, outside code, preformatted text, keyboard input,
# form fields and whatever declares itself untranslatable or in another language (translate="no",
# lang="en" on the language menu's "English").
COLLECT_TEXT = """() => {
  const SKIP = new Set(['SCRIPT', 'STYLE', 'NOSCRIPT', 'TEMPLATE', 'CODE', 'PRE', 'KBD', 'SAMP', 'TEXTAREA']);
  const lang = document.documentElement.lang;
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_ELEMENT | NodeFilter.SHOW_TEXT, {
    acceptNode(node) {
      if (node.nodeType === Node.TEXT_NODE) return NodeFilter.FILTER_ACCEPT;
      if (SKIP.has(node.tagName) || node.getAttribute('translate') === 'no') return NodeFilter.FILTER_REJECT;
      const own = node.getAttribute('lang');
      if (own !== null && own.split('-')[0] !== lang.split('-')[0]) return NodeFilter.FILTER_REJECT;
      return NodeFilter.FILTER_ACCEPT;
    },
  });
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    if (node.nodeType === Node.TEXT_NODE) {
      const text = node.nodeValue.trim();
      if (text) out.push(['text', text]);
      continue;
    }
    for (const name of ['title', 'placeholder', 'aria-label', 'alt']) {
      const value = node.getAttribute(name);
      if (value && value.trim()) out.push([name, value.trim()]);
    }
    if (node.tagName === 'INPUT' && ['submit', 'button', 'reset'].includes(node.type) && node.value) {
      out.push(['value', node.value]);
    }
  }
  return out;
}"""

# Where the sideways scroll comes from: the outermost elements that stick out past the right edge.
# The width is the layout viewport's (documentElement.clientWidth), as in tests/browser/support.py.
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const result = {scrollWidth: document.documentElement.scrollWidth, width, culprits: []};
  if (result.scrollWidth <= width) return result;
  const describe = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
    (el.classList.length ? '.' + [...el.classList].slice(0, 2).join('.') : '');
  for (const el of document.body.querySelectorAll('*')) {
    const right = el.getBoundingClientRect().right + window.scrollX;
    const parent = el.parentElement;
    if (right > width + 1 && parent && parent.getBoundingClientRect().right + window.scrollX <= width + 1) {
      result.culprits.push(`${describe(parent)} > ${describe(el)} (right edge ${Math.round(right)}px)`);
      if (result.culprits.length === 3) break;
    }
  }
  return result;
}"""

AXE_RUN = """async (impacts) => {
  const results = await axe.run(document, {resultTypes: ['violations']});
  return results.violations.filter(v => impacts.includes(v.impact)).map(v => ({
    id: v.id, impact: v.impact, help: v.help, count: v.nodes.length,
    targets: v.nodes.slice(0, 3).map(n => n.target.join(' ')),
  }));
}"""


# --- the checks -----------------------------------------------------------------------------------


class PageChecker:
    """One browser tab in one context; `check(url, page, shot)` visits a page and returns its problems."""

    def __init__(self, context, lang: str, vocabulary: set[str], names: set[str], axe: bool, shots: Path):
        self.page = context.new_page()
        self.lang = lang
        self.vocabulary = vocabulary
        self.names = {n.lower() for n in names} | {
            part.lower() for n in names for part in re.split(r"[-_.@\s]", n) if part
        }
        self.axe = axe
        self.shots = shots
        self.seconds: Counter[str] = Counter()  # per check, to see where the time goes
        self.server_errors: list[str] = []
        self.console: list[tuple[str, str]] = []
        self.page.on("response", self._on_response)
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda exc: self.console.append(("exception", str(exc)[:300])))

    def _on_response(self, response) -> None:
        if response.status >= 500:
            self.server_errors.append(f"{response.status} {response.request.method} {response.url}")

    def _on_console(self, message) -> None:
        if message.type == "error":
            self.console.append((message.location.get("url", ""), message.text[:300]))

    @contextmanager
    def _timed(self, what: str):
        started = time.monotonic()
        yield
        self.seconds[what] += time.monotonic() - started

    def check(self, url: str, page: Page, shot: str) -> list[str]:
        self.server_errors.clear()
        self.console.clear()
        problems = []
        with self._timed("load"):
            response = self.page.goto(url, wait_until="load")
            if page.ready:
                self.page.wait_for_selector(page.ready, timeout=20_000)
        status = response.status if response else 0
        if status not in page.status and status < 500:  # a 5xx is reported below, with the other 5xx
            problems.append(f"status: {status}, expected {' or '.join(map(str, page.status))}")

        with self._timed("overflow"):
            overflow = self.page.evaluate(OVERFLOW)
        if overflow["scrollWidth"] > overflow["width"]:
            culprits = "; ".join(overflow["culprits"]) or "no single element found"
            problems.append(f"overflow: scrollWidth {overflow['scrollWidth']} > width {overflow['width']} ({culprits})")

        if self.axe:
            with self._timed("axe"):
                violations = self.page.evaluate(AXE_RUN, list(AXE_IMPACTS))
            for v in violations:
                examples = ", ".join(v["targets"])
                problems.append(f"axe {v['impact']}: {v['id']}: {v['help']} ({v['count']}x, e.g. {examples})")

        with self._timed("text"):
            visible = self.page.evaluate("document.body.innerText")
            for what, pattern in RAW_PATTERNS.items():
                hits = sorted(set(pattern.findall(visible)))
                if hits:
                    problems.append(f"raw-identifier: {what} in the text: {', '.join(hits[:5])}")
            if self.lang == "vi":
                problems += self._english()

        with self._timed("screenshot"):
            self.page.screenshot(path=str(self.shots / f"{shot}.png"), full_page=True)

        # Read last: the checks above gave the page's scripts time to fail.
        for line in self.server_errors:
            problems.append(f"http-5xx: {line}")
        for where, text in self.console:
            # The browser logs the page's own non-200 answer as a failed load: the status checks above
            # report it (or expect it, for the 403 and 404 pages).
            if not (where == url and text.startswith("Failed to load resource: the server responded")):
                problems.append(f"console: {text} ({where or 'page'})")
        return problems

    def _english(self) -> list[str]:
        # One line per string that has English in it, with the words: what a translator has to look for.
        strings: dict[str, set[str]] = {}
        for where, text in self.page.evaluate(COLLECT_TEXT):
            words = english_words_in(text, self.vocabulary, self.names)
            if words:
                shown = " ".join(text.split())
                shown = shown if len(shown) <= 100 else shown[:99] + "…"
                strings.setdefault(shown if where == "text" else f"{shown} ({where})", set()).update(words)
        return [f"english: {text!r} [{', '.join(sorted(words))}]" for text, words in sorted(strings.items())]


# --- the tests ------------------------------------------------------------------------------------
#
# One fleet, one server and one browser for the whole module: the pages only read, and seeding
# 300 VMs and starting a server for each of the 12 combinations cost more than the pages themselves.
# The tests below take no database fixture (they do not touch it); `fleet` commits its rows and
# flushes them when the module is done, as a transactional test would.


@pytest.fixture(scope="module")
def vocabulary() -> set[str]:
    return english_vocabulary()


# The database the settings name, read when this module is collected, before any test database is made.
DEVELOPERS_DATABASE = connection.settings_dict["NAME"]


@pytest.fixture(scope="module")
def test_database(django_db_setup, django_db_blocker):
    """The test database, made here when pytest-django made none. It makes one only for the databases
    the selected tests are marked for; these tests are not (a django_db mark's open transaction in this
    process locked SQLite against the server's writes), so `-k admin-desktop-en` alone once seeded, then
    flushed, the developer's own database. (Whether one was made is told by the connection's name having
    changed: the conftests' suffixes make the TEST NAME setting no longer the name in use.)"""
    from django.test.utils import setup_databases, teardown_databases

    made = None
    with django_db_blocker.unblock():
        if connection.settings_dict["NAME"] == DEVELOPERS_DATABASE:
            made = setup_databases(verbosity=0, interactive=False, aliases={DEFAULT_DB_ALIAS})
        assert connection.settings_dict["NAME"] != DEVELOPERS_DATABASE
    yield
    if made is not None:
        with django_db_blocker.unblock():
            teardown_databases(made, verbosity=0)


@pytest.fixture(scope="module")
def fleet(test_database, django_db_blocker):
    with django_db_blocker.unblock():
        seeded = pages_data.seed()
        # Sessions made here, so that the tests themselves never touch the database.
        for role, user in ((USER, seeded.user), (ADMIN, seeded.admin)):
            client = Client()
            client.force_login(user)
            seeded.cookies[role] = client.cookies[settings.SESSION_COOKIE_NAME].value
    yield seeded
    with django_db_blocker.unblock():
        call_command("flush", verbosity=0, interactive=False, database=DEFAULT_DB_ALIAS)


def _compile_catalog_if_stale() -> None:
    """The server reads the compiled catalog (git-ignored, made by scripts/setup.sh): a .mo older than
    its .po would show English the .po already translates, and the Vietnamese pass would blame the pages."""
    po = BASE_DIR / "locale" / "vi" / "LC_MESSAGES" / "django.po"
    mo = po.with_suffix(".mo")
    if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
        call_command("compilemessages", locale=["vi"], ignore_patterns=[".venv", "node_modules"], verbosity=0)


@pytest.fixture(scope="module")
def fleet_server(fleet, tmp_path_factory, vm_worker_queue):
    """The dashboard under uvicorn, as conftest's web_server, for the module."""
    _compile_catalog_if_stale()
    # Nothing here queues a job; if a page ever does, it goes to a queue no worker reads.
    process = start_web_server(tmp_path_factory.mktemp("every-page"), vm_worker_queue)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def module_browser():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    if not AXE.exists():
        pytest.fail(f"{AXE.relative_to(BASE_DIR)} is missing: run `npm ci` (scripts/setup.sh does)")
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as monkeypatch:
        # As conftest's `browser`: Playwright's loop runs in this thread; flushing at the end is a plain call.
        monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()


def _url(base: str, page: Page, seeded: pages_data.Seeded) -> str:
    kwargs = {}
    if page.obj:
        value = getattr(seeded, page.obj)
        if isinstance(value, uuid.UUID) or hasattr(value, "uuid"):
            kwargs = {"uuid": getattr(value, "uuid", value)}
        else:
            kwargs = {"pk": value.pk}
    return base + reverse(page.name, kwargs=kwargs) + (f"?{page.query}" if page.query else "")


@pytest.mark.browser
@pytest.mark.parametrize("role,width,lang", COMBINATIONS, ids=["-".join(c) for c in COMBINATIONS])
def test_every_page(role, width, lang, module_browser, fleet, fleet_server, vocabulary):
    started = time.monotonic()
    shots = OUTPUT / "pages"
    (shots / "problems").mkdir(parents=True, exist_ok=True)
    phone = width == "phone"
    context = module_browser.new_context(
        viewport={"width": WIDTHS[width], "height": 844 if phone else 900},
        is_mobile=phone,
        has_touch=phone,
        locale="vi-VN" if lang == "vi" else "en-US",
        extra_http_headers={"Accept-Language": lang},
    )
    # axe-core is a test tool, never one of the dashboard's files: the browser adds it to every
    # document it opens (once per context, not 650 kB over the wire for each page).
    if AXE_AT[width]:
        context.add_init_script(path=str(AXE))
    cookies = [{"name": settings.LANGUAGE_COOKIE_NAME, "value": lang, "url": fleet_server.url}]
    if role != ANON:
        cookies.append({"name": settings.SESSION_COOKIE_NAME, "value": fleet.cookies[role], "url": fleet_server.url})
    context.add_cookies(cookies)

    checker = PageChecker(context, lang, vocabulary, fleet.names, AXE_AT[width], shots)
    found: dict[str, list[str]] = {}
    pages = [p for p in PAGES if role in p.roles]
    for page in pages:
        url = _url(fleet_server.url, page, fleet)
        problems = checker.check(url, page, f"{page.slug}--{role}-{lang}-{width}")
        if problems:
            found[f"{page.slug} ({url.removeprefix(fleet_server.url)})"] = problems
    context.close()

    summary = {
        "seconds": round(time.monotonic() - started, 1),
        "seconds_by_check": {k: round(v, 1) for k, v in checker.seconds.items()},
        "pages": len(pages),
        "problems": found,
    }
    (shots / "problems" / f"{role}-{width}-{lang}.json").write_text(json.dumps(summary, ensure_ascii=False, indent=1))
    report = "\n".join(f"{page}:\n" + "\n".join(f"  - {p}" for p in problems) for page, problems in found.items())
    assert not found, f"{len(found)} of {len(pages)} pages have problems ({role}, {width}, {lang}):\n{report}"


# --- every page is listed -------------------------------------------------------------------------


def _routes(patterns, prefix: str = "", namespace: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), (namespace + pattern.name) if pattern.name else None


def _unlisted() -> tuple[list[str], set[str]]:
    listed = {p.name for p in PAGES} | set(NOT_PAGES)
    missing, seen = [], set()
    for route, name in _routes(get_resolver().url_patterns):
        seen.add(name)
        if route.startswith("api/v1/"):
            continue  # the REST API: JSON only, described at /api/docs/
        if route.startswith("admin/") and name != "admin:index":
            continue  # Django's admin beyond its index: Django's pages, translated by Django
        if name not in listed:
            missing.append(f"/{route} ({name or 'no name'})")
    return missing, listed - seen


def test_every_html_page_is_listed():
    missing, stale = _unlisted()
    assert not missing, (
        "Routes neither in PAGES (checked in the browser) nor in NOT_PAGES (with why) in "
        f"tests/browser/test_every_page.py: {', '.join(missing)}"
    )
    assert not stale, f"PAGES or NOT_PAGES name routes that do not exist: {', '.join(sorted(stale))}"


@pytest.mark.django_db
def test_the_routes_left_out_are_not_pages(admin):
    """A route listed as "post" answers a GET with 405, one listed as "data" with something not HTML:
    otherwise it renders a page, and belongs in PAGES."""
    client = Client()
    client.force_login(admin)
    samples = {
        "pk": 1,
        "share_id": 1,
        "uuid": "00000000-0000-0000-0000-000000000001",
        "name": "sample",
        "mac": "52:54:00:00:00:01",
    }
    wrong = []
    for name, why in NOT_PAGES.items():
        if why not in ("post", "data"):
            continue
        # The REST API reuses some names ("job-detail"); reverse() gives the page's route, as here.
        route = next(r for r, n in _routes(get_resolver().url_patterns) if n == name and not r.startswith("api/v1/"))
        kwargs = {k: v for k, v in samples.items() if f":{k}>" in route}
        response = client.get(reverse(name, kwargs=kwargs))
        if why == "post" and response.status_code != 405:
            wrong.append(f"{name}: GET answered {response.status_code}, not 405")
        if why == "data" and "text/html" in response.get("Content-Type", ""):
            wrong.append(f"{name}: GET answered HTML")
    assert not wrong, wrong
