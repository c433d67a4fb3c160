"""Summaries for the API reference (/api/docs/): one line per operation, the one Swagger UI shows next
to each path. Kept as one table here, because a reader of the docs needs them all worded alike, and
`add_summaries` (a drf-spectacular post-processing hook) copies them in; tests/api/test_schema_docs.py
fails on a new endpoint that is not in the table (the hook itself never breaks the docs page).
"""

from __future__ import annotations

SUMMARIES: dict[tuple[str, str], str] = {
    ("get", "/api/schema/"): "This API's OpenAPI schema",
    ("get", "/api/v1/audit/"): "List audit entries you may see",
    ("get", "/api/v1/audit/{id}/"): "Get one audit entry",
    ("get", "/api/v1/hosts/"): "List KVM hosts (admins)",
    ("post", "/api/v1/hosts/"): "Add a KVM host by its libvirt URI (admins)",
    ("get", "/api/v1/hosts/{id}/"): "Get one host",
    ("put", "/api/v1/hosts/{id}/"): "Replace a host's settings (admins)",
    ("patch", "/api/v1/hosts/{id}/"): "Change some of a host's settings (admins)",
    ("delete", "/api/v1/hosts/{id}/"): "Remove a host that no VM uses (admins)",
    ("post", "/api/v1/hosts/{id}/check/"): "Check a host now: reachable, capacity, pools, networks",
    ("get", "/api/v1/hosts/{id}/pools/"): "A host's storage pools, as the host last reported them (admins)",
    ("post", "/api/v1/hosts/{id}/pools/"): "Define a directory storage pool on a host (admins)",
    ("get", "/api/v1/hosts/{id}/pools/{name}/volumes/"): "A pool's volumes, read from the host, with their owners",
    ("delete", "/api/v1/hosts/{id}/pools/{name}/volumes/{volume}/"): "Delete a volume that nobody owns (admins)",
    ("get", "/api/v1/hosts/{id}/networks/"): "A host's libvirt networks, as it last reported them (admins)",
    ("post", "/api/v1/networks/"): "Define a NAT, routed or bridge network on several hosts (admins)",
    ("get", "/api/v1/networks/{id}/"): "Get one network on one host (admins)",
    ("delete", "/api/v1/networks/{id}/"): "Stop and remove a network no VM of ours uses (admins)",
    ("post", "/api/v1/networks/{id}/start/"): "Start a network on its host (admins)",
    ("post", "/api/v1/networks/{id}/stop/"): "Stop a network on its host (admins)",
    ("post", "/api/v1/networks/{id}/autostart/"): "Turn a network's start-with-the-host on or off (admins)",
    ("post", "/api/v1/hosts/{id}/trust-host-key/"): "Confirm the SSH host key a host offers (admins)",
    ("get", "/api/v1/hosts/ssh-public-key/"): "This dashboard's SSH public key, for authorized_keys (admins)",
    ("get", "/api/v1/images/"): "List disk images and ISOs",
    ("post", "/api/v1/images/"): "Upload a disk image or ISO (admins)",
    ("get", "/api/v1/images/{id}/"): "Get one image with its copies on hosts",
    ("delete", "/api/v1/images/{id}/"): "Delete an image no template uses (admins)",
    ("post", "/api/v1/images/{id}/copy/"): "Copy an image to more hosts (a job per host)",
    ("get", "/api/v1/jobs/"): "List jobs you may see",
    ("get", "/api/v1/jobs/{id}/"): "Get one job with its steps and log",
    ("post", "/api/v1/jobs/{id}/cancel/"): "Cancel a queued or running job",
    ("post", "/api/v1/jobs/{id}/retry/"): "Retry a failed job",
    ("get", "/api/v1/me/tokens/"): "List your API tokens",
    ("post", "/api/v1/me/tokens/"): "Make an API token (its secret is shown once)",
    ("delete", "/api/v1/me/tokens/{id}/"): "Revoke one of your API tokens",
    ("get", "/api/v1/quotas/"): "List quotas (admins)",
    ("post", "/api/v1/quotas/"): "Give a user a quota (admins)",
    ("get", "/api/v1/quotas/{id}/"): "Get one quota (admins)",
    ("put", "/api/v1/quotas/{id}/"): "Replace a quota (admins)",
    ("patch", "/api/v1/quotas/{id}/"): "Change part of a quota (admins)",
    ("delete", "/api/v1/quotas/{id}/"): "Remove a quota: the default applies again (admins)",
    ("get", "/api/v1/quotas/me/"): "Your quota and what you use of it",
    ("get", "/api/v1/requests/"): "List VM requests (yours; admins: everyone's)",
    ("post", "/api/v1/requests/"): "Ask for a VM (checked against your quota)",
    ("get", "/api/v1/requests/{id}/"): "Get one VM request",
    ("post", "/api/v1/requests/{id}/approve/"): "Approve a request: its VM is created (admins)",
    ("post", "/api/v1/requests/{id}/cancel/"): "Cancel your own pending request",
    ("post", "/api/v1/requests/{id}/reject/"): "Reject a request with a reason (admins)",
    ("get", "/api/v1/templates/"): "List VM templates",
    ("post", "/api/v1/templates/"): "Create a template (admins)",
    ("get", "/api/v1/templates/{id}/"): "Get one template",
    ("put", "/api/v1/templates/{id}/"): "Replace a template: a new version (admins)",
    ("patch", "/api/v1/templates/{id}/"): "Change part of a template: a new version (admins)",
    ("delete", "/api/v1/templates/{id}/"): "Delete a template no VM was made from (admins)",
    ("get", "/api/v1/templates/{id}/preview/"): "The domain XML a template gives on one host",
    ("get", "/api/v1/templates/{id}/versions/"): "A template's earlier versions",
    ("post", "/api/v1/templates/import/"): "Import a template from libvirt domain XML (admins)",
    ("get", "/api/v1/vms/"): "List VMs you own or were given",
    ("post", "/api/v1/vms/"): "Create a VM (admins; anyone else's becomes a request)",
    ("get", "/api/v1/vms/{id}/"): "Get one VM",
    ("delete", "/api/v1/vms/{id}/"): "Delete a VM and its disks (a job)",
    ("post", "/api/v1/vms/{id}/actions/{action_name}/"): "Start, shut down, reboot, force off, suspend or resume",
    ("post", "/api/v1/vms/{id}/adopt/"): "Take a VM found on a host under management (admins)",
    ("post", "/api/v1/vms/{id}/forget/"): "Stop managing a discovered VM; the host keeps it (admins)",
}


def add_summaries(result: dict, generator, request, public) -> dict:
    """Give every operation its summary from SUMMARIES (one a view declares itself wins)."""
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            summary = SUMMARIES.get((method, path))
            if summary and not operation.get("summary"):
                operation["summary"] = summary
    return result
