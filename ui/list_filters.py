"""The "Mine / Everyone" and state filters of a list page (jobs, requests), read the same way everywhere.

Staff look after everyone, so their lists start with everyone's and may narrow to their own
(`?who=mine`); anyone else only ever has their own, whatever the query (the caller's queryset already
holds only what the user may see). The template side is templates/components/whose_and_state.html.
"""

from __future__ import annotations

from collections.abc import Iterable


def whose_and_state(request, states: Iterable[str]) -> tuple[bool, str]:
    """(everyone's?, state): an unknown state reads as no state filter."""
    everyone = bool(request.user.is_staff) and request.GET.get("who") != "mine"
    state = request.GET.get("state", "")
    return everyone, state if state in set(states) else ""
