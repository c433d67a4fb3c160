"""templates/components/: what each component promises, checked on its rendered HTML."""

from __future__ import annotations

from html.parser import HTMLParser

from django import forms
from django.core.paginator import Paginator
from django.template import engines
from django.test import RequestFactory

from ui.templatetags.ui import nav_current


class Elements(HTMLParser):
    """Every start tag as (tag, attrs), in order."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def ids(self) -> set[str]:
        return {a["id"] for _t, a in self.tags if a.get("id")}

    def find(self, tag: str, **attrs) -> list[dict]:
        return [a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())]


class SampleForm(forms.Form):
    name = forms.CharField(help_text="Lower case and dashes.")
    note = forms.CharField(required=False)
    agree = forms.BooleanField(label="Start it now")
    size = forms.ChoiceField(choices=[("s", "Small"), ("l", "Large")], widget=forms.RadioSelect)


def render(source: str, request=None, **context) -> str:
    return engines["django"].from_string(source).render(context, request=request)


def fields(form) -> str:
    return render(
        '{% include "components/form_errors.html" with form=form %}'
        '{% for f in form %}{% include "components/field.html" with field=f %}{% endfor %}',
        form=form,
    )


def assert_described_by_existing_ids(html: str) -> None:
    page = Elements(html)
    ids = page.ids()
    described = [a for _t, a in page.tags if "aria-describedby" in a]
    assert described
    for attrs in described:
        for ref in attrs["aria-describedby"].split():
            assert ref in ids, f"{attrs.get('name')} is described by #{ref}, which is not on the page"


def test_a_valid_field_is_described_by_its_help_only():
    html = fields(SampleForm())
    assert_described_by_existing_ids(html)
    page = Elements(html)
    (name,) = page.find("input", name="name")
    assert name["aria-describedby"] == "id_name-help"
    assert "aria-invalid" not in name
    (note,) = page.find("input", name="note")
    assert "aria-describedby" not in note  # no help, no errors: nothing to point at
    assert "error-summary" not in html


def test_a_field_with_errors_is_invalid_and_described_by_its_errors():
    form = SampleForm(data={"note": "x"})
    assert not form.is_valid()
    html = fields(form)
    assert_described_by_existing_ids(html)
    page = Elements(html)
    (name,) = page.find("input", name="name")
    assert name["aria-invalid"] == "true"
    assert name["aria-describedby"].split() == ["id_name-errors", "id_name-help"]
    assert page.find("ul", id="id_name-errors")
    assert page.find("p", id="id_name-help")


def test_the_live_hint_slot_is_kept():
    page = Elements(fields(SampleForm()))
    assert page.find("p", **{"data-hint-for": "name", "aria-live": "polite"})


def test_a_checkbox_comes_before_its_label():
    html = fields(SampleForm())
    start = html.index('data-field="agree"')
    row = html[start : html.index("</div>", start)]
    assert "check-row" in row
    assert row.index('type="checkbox"') < row.index('<label for="id_agree">Start it now</label>')


def test_radios_are_a_fieldset_with_a_legend():
    html = fields(SampleForm())
    assert "<fieldset><legend>Size</legend>" in html


def test_the_error_summary_lists_every_error_and_links_to_fields_that_exist():
    form = SampleForm(data={"note": "x"})
    form.is_valid()
    form.add_error(None, "The whole thing is wrong.")
    html = fields(form)
    page = Elements(html)
    (summary,) = page.find("div", **{"class": "error-summary"})
    assert summary["role"] == "alert" and summary["tabindex"] == "-1"
    assert "The whole thing is wrong." in html
    links = [a["href"] for a in page.find("a") if a.get("href", "").startswith("#")]
    assert links == ["#id_name", "#id_agree", "#id_size_0"]  # a radio group links to its first radio
    assert {link[1:] for link in links} <= page.ids()


def test_the_pager_keeps_the_query_but_its_own_page():
    page = Paginator(range(50), 10).page(2)
    request = RequestFactory().get("/audit/", {"q": "vm one", "page": "2", "kind": "vm"})
    html = render('{% include "components/pager.html" with page=page %}', request=request, page=page)
    assert 'href="?q=vm+one&amp;page=1&amp;kind=vm"' in html
    assert 'href="?q=vm+one&amp;page=3&amp;kind=vm"' in html
    assert "Page 2 of 5" in html


def test_one_page_needs_no_pager():
    page = Paginator(range(5), 10).page(1)
    assert render('{% include "components/pager.html" with page=page %}', page=page).strip() == ""


def test_the_badge_carries_its_words_and_the_live_hooks():
    html = render(
        '{% include "components/badge.html" with state="running" label="Running" vm_badge="u-1" %}'
        '{% include "components/badge.html" with state="pending" label="Waiting" request_badge=7 %}'
    )
    page = Elements(html)
    (vm,) = page.find("span", **{"data-vm-badge": "u-1"})
    assert vm["class"] == "badge state-running" and vm["data-state"] == "running"
    (req,) = page.find("span", **{"data-request-badge": "7"})
    assert req["class"] == "badge state-pending"
    assert ">Running</span>" in html and ">Waiting</span>" in html


def test_the_empty_state_offers_a_next_step_when_given_one():
    html = render(
        '{% include "components/empty.html" with text="No VMs yet." action_url="/request/"'
        ' action_label="Request a VM" %}'
    )
    assert "<p>No VMs yet.</p>" in html and '<a class="button" href="/request/">Request a VM</a>' in html
    assert "<a" not in render('{% include "components/empty.html" with text="Nothing here." %}')


def test_the_menu_marks_the_deepest_section_a_page_is_under():
    urls = ("/request/", "/vms/", "/requests/", "/requests/inbox/", "/fleet/", "", "/jobs/", "/audit/")
    assert nav_current("/vms/", *urls) == "/vms/"
    assert nav_current("/vms/0b5c/", *urls) == "/vms/"
    assert nav_current("/requests/inbox/", *urls) == "/requests/inbox/"
    assert nav_current("/requests/12/", *urls) == "/requests/"
    assert nav_current("/", *urls) == ""
    assert nav_current("/manage/images/", *urls) == ""
