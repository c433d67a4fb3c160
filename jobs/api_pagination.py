"""The one page-number pagination of the REST API, shared by every app's list endpoints.

It lives in jobs/ because every app may import jobs (vms -> jobs, portal -> vms -> jobs) while jobs
imports none of them; it holds nothing about jobs.
"""

from __future__ import annotations

from rest_framework.pagination import PageNumberPagination


class StandardPagination(PageNumberPagination):
    """`{"count", "next", "previous", "results"}`, 100 a page; `?page=` and `?page_size=` (at most 1000).

    Lists that may grow without bound (VMs, jobs) must never answer with everything at once.
    """

    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
