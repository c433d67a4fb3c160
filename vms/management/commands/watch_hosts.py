"""`manage.py watch_hosts`: the watcher process (libvirt events, stats, serial consoles). See docs/live.md."""

from __future__ import annotations

import asyncio
import signal

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from vms.watcher.supervisor import run_watcher


class Command(BaseCommand):
    help = _("Watch the enabled hosts: live VM states, stats and serial consoles. Run as many as you like.")

    def add_arguments(self, parser):
        parser.add_argument(
            "--watcher-id", default=None, help=_("Name of this watcher in host leases (default: host:pid:random).")
        )

    def handle(self, *args, watcher_id: str | None, **options):
        asyncio.run(self._main(watcher_id))

    async def _main(self, watcher_id: str | None) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        # A clean exit releases the leases at once; otherwise other watchers wait for them to expire.
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run_watcher(watcher_id, stop)
