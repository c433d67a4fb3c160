"""The login page: Django's LoginView with the throttled form; a refused login because of too many
failures answers 429 (the page, with the sentence that says how long to wait)."""

from __future__ import annotations

from django.contrib.auth.views import LoginView

from accounts.forms import ThrottledAuthenticationForm


class ThrottledLoginView(LoginView):
    authentication_form = ThrottledAuthenticationForm

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if getattr(form, "throttled", None) is not None:
            response.status_code = 429
            response["Retry-After"] = str(form.throttled.seconds)
        return response
