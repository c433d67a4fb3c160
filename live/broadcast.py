"""Send typed messages to channel-layer groups, after the database change is committed.

Every message has the channel-layer type "broadcast" and a JSON `payload` whose own "type"
says what it is ("vm.state", "job.progress", "host.state", ...). Consumers forward the payload.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)


def send_now(groups: Iterable[str], payload: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for group in dict.fromkeys(groups):
        try:
            async_to_sync(layer.group_send)(group, {"type": "broadcast", "payload": payload})
        except Exception:  # a live view is a convenience: never fail the change because Redis hiccuped
            log.exception("broadcast to %s failed", group)


def broadcast(groups: Iterable[str], payload: dict) -> None:
    """Broadcast once the surrounding transaction commits (at once outside a transaction)."""
    groups = list(groups)
    transaction.on_commit(lambda: send_now(groups, payload))
