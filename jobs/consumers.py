"""Live updates of one job for its page: /ws/jobs/<id>/.

A session socket (live/sockets.py): closed on logout (4401), re-checked when the user's rights or
credentials change (the job no longer visible: 4404, as at connect). Refusals accept the handshake
first and then close with the code, so a browser sees 4401/4404 rather than 1006.
"""

from __future__ import annotations

from channels.db import database_sync_to_async

from jobs.groups import job_group
from jobs.models import Job
from jobs.selectors import can_view
from jobs.services import payload
from live.sockets import CLOSE_NOT_FOUND, CLOSE_UNAUTHENTICATED, SessionSocket


class JobConsumer(SessionSocket):
    # Application close codes (4000-4999) like HTTP 401 and 404, so the page can tell them apart.
    # Same answer for "no such job" and "not yours", at connect and later: ids are not revealed.
    access_lost_code = CLOSE_NOT_FOUND

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.refuse(CLOSE_UNAUTHENTICATED)
            return
        job_id = int(self.scope["url_route"]["kwargs"]["job_id"])
        snapshot = await self._snapshot(job_id, user)
        if snapshot is None:
            await self.refuse(CLOSE_NOT_FOUND)
            return
        self.job_id = job_id
        await self.start_session(user, [job_group(job_id)])
        await self.accept()
        # The state as of now, so an update between page render and connect is never missed.
        await self.send_json(snapshot)

    def check_access(self, user) -> bool | str:
        job = Job.objects.filter(pk=self.job_id).first()
        return job is not None and can_view(job, user)

    @database_sync_to_async
    def _snapshot(self, job_id: int, user) -> dict | None:
        job = Job.objects.filter(pk=job_id).first()
        if job is None or not can_view(job, user):
            return None
        return payload(job)
