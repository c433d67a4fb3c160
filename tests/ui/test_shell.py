"""The page shell (templates/base.html and the error pages): menu, skip link, language button, footer,
403/404/500 pages with navigation, and the admin's own name."""

from __future__ import annotations

import re

import pytest
from django.template import loader
from django.test import Client

from portal.models import VMRequest
from tests.support.people import PASSWORD

pytestmark = pytest.mark.django_db


def client_for(user) -> Client:
    client = Client()
    client.login(username=user.get_username(), password=PASSWORD)
    return client


def test_the_shell_has_a_skip_link_to_the_content(alice):
    html = client_for(alice).get("/vms/").content.decode()
    assert '<a class="skip-link" href="#content">Skip to content</a>' in html
    assert '<main id="content"' in html


def test_the_menu_marks_the_current_page(alice):
    html = client_for(alice).get("/vms/").content.decode()
    assert re.search(r'<a href="/vms/" aria-current="page">My VMs</a>', html)
    assert html.count('aria-current="page"') == 1


def test_the_phone_menu_button_controls_the_menu(alice):
    html = client_for(alice).get("/vms/").content.decode()
    assert 'data-menu-button aria-expanded="false" aria-controls="site-menu"' in html
    assert 'id="site-menu"' in html


def test_the_language_changes_by_a_button_not_on_select(alice):
    html = client_for(alice).get("/vms/").content.decode()
    form = html[html.index('id="language-form"') : html.index("</form>", html.index('id="language-form"'))]
    assert '<button class="small secondary">Change</button>' in form  # a form's button submits it
    assert "data-autosubmit" not in html
    assert "<noscript>" not in form


def test_the_footer_links_the_api_docs_for_people_logged_in(alice):
    assert 'href="/api/docs/"' in client_for(alice).get("/vms/").content.decode()
    assert 'href="/api/docs/"' not in Client().get("/login/").content.decode()


def test_staff_see_how_many_requests_wait_on_approvals(admin, alice, template):
    for i in range(2):
        VMRequest.objects.create(requester=alice, template=template, name=f"r{i}", vcpus=1, memory_mib=512, disk_gib=5)
    html = client_for(admin).get("/vms/").content.decode()
    assert re.search(r'Approvals <span class="count">2<span class="visually-hidden"> requests waiting', html)
    # Users who are not staff neither see the count nor pay for its query.
    assert "Approvals" not in client_for(alice).get("/vms/").content.decode()


def test_no_count_when_nothing_waits(admin):
    assert 'class="count"' not in client_for(admin).get("/vms/").content.decode()


@pytest.mark.parametrize("url", ["/manage/templates/", "/requests/inbox/", "/fleet/"])
def test_a_user_who_is_not_staff_gets_our_403_page_with_the_menu(alice, url):
    response = client_for(alice).get(url)
    assert response.status_code == 403
    html = response.content.decode()
    assert "You are not allowed to see this page" in html
    assert "ask an administrator" in html
    assert '<nav aria-label="Main">' in html
    assert "/admin/login/" not in html


@pytest.mark.parametrize("url", ["/manage/templates/", "/requests/inbox/", "/fleet/"])
def test_anonymous_still_goes_to_the_login_page(url):
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_404_says_what_happened_and_keeps_the_menu(alice):
    response = client_for(alice).get("/no/such/page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Page not found" in html and '<nav aria-label="Main">' in html
    assert 'href="/vms/"' in html


def test_an_api_404_is_still_json(alice):
    response = client_for(alice).get("/api/v1/no-such-thing/")
    assert response.status_code == 404 and response["Content-Type"] == "application/json"


def test_500_renders_without_a_request():
    # Django's server_error renders it with an empty context: nothing of the failed request is needed.
    html = loader.get_template("500.html").render({})
    assert "Something went wrong on our side" in html
    assert 'href="/"' in html


def test_the_admin_names_the_fleet(admin):
    html = client_for(admin).get("/admin/").content.decode()
    assert "KVM fleet administration" in html
    assert "Django administration" not in html
    assert '<link rel="icon"' in html  # no request for /favicon.ico, which is a 404


def test_every_page_has_its_icon_in_the_page():
    assert '<link rel="icon" href="data:image/svg+xml,' in Client().get("/login/").content.decode()
