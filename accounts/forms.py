"""The login forms of the login page and the Django admin: refused at once, with how long to wait,
while the account or the address has too many failed logins (accounts/throttle.py)."""

from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from accounts import throttle
from accounts.signals import client_address


class ThrottledLoginMixin:
    throttled: throttle.Blocked | None = None

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        self.throttled = throttle.blocked(username, client_address(self.request))
        if self.throttled is not None:
            # Nothing is tried and nothing more is written: the window that filled was recorded once.
            raise forms.ValidationError(self.throttled.message, code="throttled")
        return super().clean()


class ThrottledAuthenticationForm(ThrottledLoginMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(ThrottledLoginMixin, AdminAuthenticationForm):
    pass
