"""Fill in a Django admin form the way a browser would: read the page's fields, change some, post them."""

from __future__ import annotations

from html.parser import HTMLParser


class _FormReader(HTMLParser):
    """The successful controls of the page's form: what a browser would send if nothing were changed."""

    def __init__(self):
        super().__init__()
        self.data: list[tuple[str, str]] = []
        self._select: str | None = None
        self._select_multiple = False
        self._select_seen: list[tuple[str, bool]] = []
        self._textarea: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name:
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "file", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.data.append((name, a.get("value", "on" if kind in ("checkbox", "radio") else "")))
        elif tag == "select" and name:
            self._select, self._select_multiple, self._select_seen = name, "multiple" in a, []
        elif tag == "option" and self._select is not None:
            self._select_seen.append((a.get("value", ""), "selected" in a))
        elif tag == "textarea" and name:
            self._textarea, self._text = name, []

    def handle_endtag(self, tag):
        if tag == "select" and self._select is not None:
            chosen = [value for value, selected in self._select_seen if selected]
            if not chosen and not self._select_multiple and self._select_seen:
                chosen = [self._select_seen[0][0]]
            self.data.extend((self._select, value) for value in chosen)
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.data.append((self._textarea, "".join(self._text).lstrip("\n")))
            self._textarea = None

    def handle_data(self, data):
        if self._textarea is not None:
            self._text.append(data)


def form_data(html: str) -> dict[str, list[str]]:
    reader = _FormReader()
    reader.feed(html)
    data: dict[str, list[str]] = {}
    for name, value in reader.data:
        if name in ("csrfmiddlewaretoken", "_save", "_continue", "_addanother"):
            continue
        data.setdefault(name, []).append(value)
    return data


def submit(client, url: str, **changes) -> object:
    """GET the admin form at `url`, apply `changes` (None removes a field, e.g. an unchecked box), POST it."""
    page = client.get(url)
    assert page.status_code == 200, (url, page.status_code)
    data = form_data(page.content.decode())
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value if isinstance(value, list) else [str(value)]
    return client.post(url, data)
