"""A fleet big enough for every page to show what it shows on a busy day, written straight to the test
database (bulk inserts, no services, no libvirt): 50 hosts, 300 VMs, 40 images with copies, templates
with versions, requests in every state, jobs with log lines, audit entries and shares.

Used by tests/browser/test_every_page.py. Free text (descriptions, notes, reasons, log lines) is in
Vietnamese: it is what people typed or what the worker wrote in the requester's language, and the
Vietnamese pass of the page checks must find English only where the pages themselves put it. Names
(users, hosts, VMs, templates, images) are returned in `Seeded.names`: the language check allows them.
Host and libvirt messages stay in English on purpose, as libvirt writes them: a page has to show them
as machine text (`<code>`, `translate="no"`), and the check holds it to that.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.utils import timezone

from audit.choices import AuditResult
from audit.models import AuditEntry
from jobs.choices import JobState, LogLevel, StepState
from jobs.models import Job
from portal.choices import ApprovalMode, RequestState
from portal.models import ApprovalPolicy, Quota, VMRequest
from sandbox.demo_domain import demo_domain_xml
from sandbox.demo_guest import KERNEL_CMDLINE
from vms.choices import BootMode, CopyState, DiskFormat, DiskSource, ImageFormat, ImageKind, ShareLevel, VMState
from vms.models import Host, Image, ImageCopy, TemplateVersion, VirtualMachine, VMShare, VMTemplate

PASSWORD = "pw-every-page-0123"
USER = "lan"  # the plain user
ADMIN = "minh"  # staff and superuser
OTHERS = ["hoa", "tuan", "dung", "khoa", "thu", "quang"]

HOSTS = 50
VMS = 300
IMAGES = 40
USER_VMS = 24  # the plain user's own, besides the ones shared with her
REQUESTS_PER_OTHER = 10

# What libvirt says, in its words (see the module's docstring).
LIBVIRT_ERROR = "Cannot recv data: Connection reset by peer"

_password_hash: str | None = None


@dataclass
class Seeded:
    user: object
    admin: object
    vm: VirtualMachine  # the user's running VM: shares, a job timeline, a request it came from
    stopped_vm: VirtualMachine  # the user's VM with no running display (the graphics console page)
    deleted_vm: VirtualMachine
    request: VMRequest  # the user's pending request
    job: Job  # the user's failed job with a long log
    host: Host  # the host the user's VM is on
    ssh_host: Host  # an SSH host whose key changed: the confirmed key, the one offered, our public key
    template: VMTemplate
    missing_vm: uuid.UUID = field(default_factory=uuid.uuid4)  # no VM has it: the 404 page
    names: set[str] = field(default_factory=set)
    cookies: dict[str, str] = field(default_factory=dict)  # role -> session key, set by the test module


def _hash() -> str:
    # PBKDF2 is slow on purpose; one hash serves every user of every test in the session.
    global _password_hash
    if _password_hash is None:
        _password_hash = make_password(PASSWORD)
    return _password_hash


def _users():
    User = get_user_model()
    rows = [User(username=USER, email=f"{USER}@example.org", password=_hash(), first_name="Lan", last_name="Nguyễn")]
    rows.append(User(username=ADMIN, email=f"{ADMIN}@example.org", password=_hash(), is_staff=True, is_superuser=True))
    rows += [User(username=name, email=f"{name}@example.org", password=_hash()) for name in OTHERS]
    User.objects.bulk_create(rows)
    return {u.username: u for u in User.objects.all()}


def _hosts() -> list[Host]:
    rows = []
    for i in range(1, HOSTS + 1):
        offline = i % 17 == 0
        rows.append(
            Host(
                name=f"kvm-hn-{i:02d}",
                uri=f"test:///fake{i}",
                online=not offline,
                enabled=i != 49,
                max_concurrent_jobs=4,
                notes="Giá máy tầng 3, dãy B." if i % 5 == 0 else "",
                capabilities={
                    "cpus": 16 * (1 + i % 4),
                    "memory_mib": 65536 * (1 + i % 3),
                    "kvm": True,
                    "arch": "x86_64",
                    "pools": [
                        {
                            "name": "default",
                            "active": True,
                            "capacity": 2 * 2**40,
                            "allocation": 2 * 2**40 - (1 + i % 7) * 2**37,
                            "available": (1 + i % 7) * 2**37,
                            "path": "/var/lib/libvirt/images",
                        },
                        # Some hosts have a second pool, and one an inactive pool (the Storage page).
                        *(
                            [
                                {
                                    "name": "nvme",
                                    "active": True,
                                    "capacity": 2**40,
                                    "allocation": 2**38,
                                    "available": 3 * 2**38,
                                    "path": "/srv/nvme",
                                }
                            ]
                            if i % 3 == 0
                            else []
                        ),
                        *([{"name": "backup", "active": False}] if i == 1 else []),
                    ],
                    # The Networks page: a NAT network on most hosts, a bridge on some.
                    "networks": [
                        {
                            "name": "default",
                            "active": i % 6 != 0,
                            "autostart": True,
                            "persistent": True,
                            "bridge": "virbr0",
                            "forward": "nat",
                            "subnet": "192.168.122.0/24",
                            "dhcp": "192.168.122.2-192.168.122.254",
                        }
                    ]
                    if i % 4
                    else [],
                    "bridges": ["br0"] if i % 3 == 0 else [],
                    "bridges_known": True,
                },
                last_checked=timezone.now() - timedelta(minutes=i),
                last_error=LIBVIRT_ERROR if offline else "",
            )
        )
    # Host 48 is reached over SSH and now offers another key than the one confirmed (a reinstall?).
    rows[47].uri = "qemu+ssh://root@kvm-hn-48.example/system"
    rows[47].ssh_host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIVRnF27sES4jmUzgazWkXrL4surJ+SV/KlfDhGba+XH"
    rows[47].ssh_host_key_fingerprint = "SHA256:ADyJePL5oOjl6PWt1PjuHR4Wfz97y9gK9tTKsS5CNs4"
    rows[47].ssh_offered_host_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB83Zr95KnbaMumQy7PRPnILJyUMv05DHtQcuaRT/z93"
    Host.objects.bulk_create(rows)
    return list(Host.objects.order_by("name"))


TEMPLATES = [
    ("ubuntu-24.04", "Máy chủ Ubuntu cài sẵn cloud-init, dùng cho dịch vụ web và thử nghiệm."),
    ("debian-12", "Debian ổn định, đĩa qcow2 phủ lên ảnh gốc."),
    ("alpine-3.20", "Nhỏ gọn, khởi động trong vài giây; phù hợp cho thử nghiệm nhanh."),
    ("rocky-9", "Tương thích RHEL, dành cho cơ sở dữ liệu."),
    ("windows-2022", "Máy chủ Windows có bản quyền, cần duyệt thủ công."),
    ("ubuntu-22.04-cu", "Phiên bản cũ, không còn nhận yêu cầu mới."),
]


def _templates(admin) -> list[VMTemplate]:
    xml = demo_domain_xml("demo", None, KERNEL_CMDLINE)
    rows = [
        VMTemplate(
            name=name,
            description=description,
            domain_xml=xml,
            version=3 if i == 0 else 1,
            active=not name.endswith("-cu"),
            boot_mode=BootMode.KERNEL if i == 2 else BootMode.BIOS,
            default_vcpus=1 + i % 2,
            max_vcpus=8,
            default_memory_mib=1024,
            max_memory_mib=16384,
            default_disk_gib=10,
            max_disk_gib=200,
            disk_source=DiskSource.OVERLAY if i % 2 else DiskSource.EMPTY,
            disk_format=DiskFormat.QCOW2,
            base_image=f"{name}.qcow2" if i % 2 else "",
            cloud_init=i == 0,
        )
        for i, (name, description) in enumerate(TEMPLATES)
    ]
    VMTemplate.objects.bulk_create(rows)
    templates = list(VMTemplate.objects.order_by("id"))
    main = templates[0]
    TemplateVersion.objects.bulk_create(
        TemplateVersion(
            template=main,
            version=v,
            domain_xml=xml,
            limits={"max_vcpus": 4 * v, "max_memory_mib": 8192, "max_disk_gib": 100, "cloud_init": True},
            created_by=admin,
        )
        for v in (1, 2, 3)
    )
    ApprovalPolicy.objects.bulk_create(
        [
            ApprovalPolicy(template=templates[2], mode=ApprovalMode.AUTO),
            ApprovalPolicy(template=templates[4], mode=ApprovalMode.MANUAL),
        ]
    )
    return templates


# A spread of states, the common ones most often.
_STATES = [VMState.RUNNING] * 6 + [
    VMState.STOPPED,
    VMState.STOPPED,
    VMState.PAUSED,
    VMState.CRASHED,
    VMState.PROVISIONING,
    VMState.UNKNOWN,
    VMState.FAILED,
    VMState.SHUTTING_DOWN,
]


def _vms(users, hosts, templates) -> list[VirtualMachine]:
    xml = templates[0].domain_xml
    user, admin = users[USER], users[ADMIN]
    others = [users[name] for name in OTHERS]
    rows = []
    for i in range(VMS):
        if i < USER_VMS:
            owner = user
        elif i < USER_VMS + 12:
            owner = admin
        else:
            owner = others[i % len(others)]
        template = templates[i % (len(templates) - 1)]
        rows.append(
            VirtualMachine(
                name=f"{owner.username}-{i:03d}",
                owner=owner,
                host=hosts[i % len(hosts)],
                template=template,
                template_version=template.version,
                domain_xml=xml,
                vcpus=1 + i % 4,
                memory_mib=512 * (1 + i % 8),
                disk_gib=10 * (1 + i % 5),
                state=_STATES[i % len(_STATES)],
                # A few VMs found on hosts, not made here.
                managed=i % 41 != 0,
            )
        )
    # The user's VM the detail pages open: running; her stopped one (no display); her deleted one.
    rows[0].state = VMState.RUNNING
    rows[1].state = VMState.STOPPED
    rows[2].state = VMState.DELETED
    VirtualMachine.objects.bulk_create(rows)
    return list(VirtualMachine.objects.order_by("id"))


def _images(admin, hosts) -> list[Image]:
    names = ["ubuntu-24.04", "debian-12", "alpine-3.20", "rocky-9", "fedora-40", "opensuse-15", "arch", "windows"]
    rows = []
    for i in range(IMAGES):
        iso = i % 4 == 3
        name = f"{names[i % len(names)]}-{i:02d}{'-cai-dat' if iso else ''}"
        rows.append(
            Image(
                name=name,
                kind=ImageKind.ISO if iso else ImageKind.BASE,
                format=ImageFormat.ISO if iso else (ImageFormat.QCOW2 if i % 2 else ImageFormat.RAW),
                size=(300 + 37 * i) * 2**20,
                virtual_size=(300 + 37 * i) * 2**20 if iso else (10 + i) * 2**30,
                sha256=f"{i:064x}",
                file=f"{i:04d}.img",
                volume=f"{name}.{'iso' if iso else 'qcow2'}",
                uploaded_by=admin,
            )
        )
    Image.objects.bulk_create(rows)
    images = list(Image.objects.order_by("id"))
    copies = []
    for i, image in enumerate(images):
        for j, state in enumerate([CopyState.READY, CopyState.COPYING, CopyState.FAILED][: 1 + i % 3]):
            copies.append(
                ImageCopy(
                    image=image,
                    host=hosts[(i + j * 7) % len(hosts)],
                    volume=image.volume,
                    state=state,
                    progress={CopyState.READY: 100, CopyState.COPYING: 40 + i, CopyState.FAILED: 12}[state],
                    error="Bản sao chưa xong; xem tác vụ #12." if state == CopyState.FAILED else "",
                )
            )
    ImageCopy.objects.bulk_create(copies)
    return images


_REQUEST_STATES = [
    RequestState.PENDING,
    RequestState.APPROVED,
    RequestState.PROVISIONED,
    RequestState.REJECTED,
    RequestState.CANCELLED,
    RequestState.FAILED,
]
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGm3w6k1x0Yc2m4a7dQ3p9ZkS1tV8b4u2x6c9n0r1q2w lan@maytinh"


def _requests(users, templates, vms, hosts) -> list[VMRequest]:
    user, admin = users[USER], users[ADMIN]
    now = timezone.now()
    rows = []
    people = [user] * 2 + [users[name] for name in OTHERS]
    for n, requester in enumerate(p for p in people for _ in range(REQUESTS_PER_OTHER)):
        state = _REQUEST_STATES[n % len(_REQUEST_STATES)]
        decided = state != RequestState.PENDING
        own_vms = [vm for vm in vms if vm.owner_id == requester.pk and vm.state != VMState.DELETED]
        rows.append(
            VMRequest(
                requester=requester,
                template=templates[n % (len(templates) - 1)],
                name=f"{requester.username}-yc-{n:03d}",
                vcpus=1 + n % 4,
                memory_mib=1024 * (1 + n % 4),
                disk_gib=20,
                ssh_keys=[SSH_KEY] if n % 3 == 0 else [],
                note="Cần cho đợt kiểm thử cuối tháng; xóa sau hai tuần." if n % 2 == 0 else "",
                host=hosts[n % len(hosts)] if n % 5 == 0 else None,
                state=state,
                decided_by=admin if decided and state != RequestState.CANCELLED else None,
                decided_at=now - timedelta(hours=n) if decided else None,
                auto_approved=state == RequestState.PROVISIONED and n % 2 == 0,
                reason={
                    RequestState.REJECTED: "Hết hạn mức của phòng ban trong quý này.",
                    RequestState.FAILED: "Không máy chủ nào còn đủ bộ nhớ.",
                }.get(state, ""),
                vm=own_vms[n % len(own_vms)] if state == RequestState.PROVISIONED and own_vms else None,
            )
        )
    # rows[0], the request the detail page opens, is the user's pending one (with keys and a note);
    # rows[2] is hers too, provisioned: the request her VM came from.
    rows[2].vm = vms[0]
    VMRequest.objects.bulk_create(rows)
    return list(VMRequest.objects.order_by("id"))


def _steps(kind: str, state: str) -> list[dict]:
    names = {
        "vm.provision": ["disks", "seed", "define", "start", "wait"],
        "vm.delete": ["stop", "undefine", "volumes"],
        "image.copy": ["copy"],
    }.get(kind, ["act"])
    now = timezone.now().isoformat()
    steps = []
    for k, name in enumerate(names):
        if state == JobState.SUCCEEDED:
            step_state = StepState.DONE
        elif state == JobState.FAILED:
            step_state = StepState.DONE if k < 2 else (StepState.FAILED if k == 2 else StepState.PENDING)
        elif state == JobState.RUNNING:
            step_state = StepState.DONE if k == 0 else (StepState.RUNNING if k == 1 else StepState.PENDING)
        else:
            step_state = StepState.PENDING
        done = step_state in (StepState.DONE, StepState.FAILED)
        steps.append(
            {
                "name": name,
                "label": name,
                "state": step_state.value,
                "started_at": now if step_state != StepState.PENDING else None,
                "finished_at": now if done else None,
            }
        )
    return steps


_LOG_LINES = [
    (LogLevel.INFO, "Đã chọn máy chủ kvm-hn-01 (còn 48 vCPU, 120 GiB bộ nhớ)."),
    (LogLevel.INFO, "Đang tạo đĩa 20 GiB trong kho lưu trữ mặc định."),
    (LogLevel.DEBUG, "Đĩa đã sẵn sàng sau 2,4 giây."),
    (LogLevel.WARNING, "Máy chủ phản hồi chậm; thử lại lần 2."),
    (LogLevel.INFO, "Đang ghi đĩa cloud-init."),
    (LogLevel.ERROR, "Không định nghĩa được máy ảo trên máy chủ."),
]


def _log(lines: int) -> list[dict]:
    start = timezone.now() - timedelta(minutes=lines)
    return [
        {
            "seq": k + 1,
            "at": (start + timedelta(seconds=17 * k)).isoformat(),
            "level": _LOG_LINES[k % len(_LOG_LINES)][0].value,
            "step": "define",
            "message": _LOG_LINES[k % len(_LOG_LINES)][1],
        }
        for k in range(lines)
    ]


def _jobs(users, vms, images) -> list[Job]:
    user, admin = users[USER], users[ADMIN]
    others = [users[name] for name in OTHERS]
    kinds = ["vm.provision", "vm.start", "vm.shutdown", "vm.reboot", "vm.delete"]
    states = [JobState.SUCCEEDED, JobState.SUCCEEDED, JobState.FAILED, JobState.RUNNING, JobState.QUEUED]
    now = timezone.now()
    rows = []
    for n in range(150):
        vm = vms[n % 60]
        requester = user if n < 40 else (admin if n < 70 else others[n % len(others)])
        kind = kinds[n % len(kinds)]
        state = states[n % len(states)]
        target = f"vms.virtualmachine:{vm.pk}"
        if n % 10 == 9:
            kind, target = "image.copy", f"vms.image:{images[n % len(images)].pk}"
        rows.append(
            Job(
                kind=kind,
                target=target,
                requested_by=requester,
                params={"vm": str(vm.uuid)} if kind != "image.copy" else {"host": vm.host_id},
                language="vi",
                state=state,
                steps=_steps(kind, state),
                current_step="define" if state in (JobState.RUNNING, JobState.FAILED) else "",
                progress={JobState.SUCCEEDED: 100, JobState.FAILED: 40, JobState.RUNNING: 30}.get(state, 0),
                log=_log(4 + n % 6),
                error=(
                    {"step": "define", "message": "Máy chủ từ chối định nghĩa máy ảo.", "host_message": LIBVIRT_ERROR}
                    if state == JobState.FAILED
                    else {}
                ),
                attempts=0 if state == JobState.QUEUED else 1 + n % 2,
                started_at=None if state == JobState.QUEUED else now - timedelta(minutes=n),
                finished_at=now - timedelta(minutes=n) if state in (JobState.SUCCEEDED, JobState.FAILED) else None,
                worker="celery@worker-1" if state == JobState.RUNNING else "",
                heartbeat_at=now if state == JobState.RUNNING else None,
            )
        )
    # The job the detail page opens: the user's failed provisioning of her VM, with a long log.
    rows[0].kind, rows[0].state, rows[0].target = "vm.provision", JobState.FAILED, f"vms.virtualmachine:{vms[0].pk}"
    rows[0].steps, rows[0].log = _steps("vm.provision", JobState.FAILED), _log(40)
    rows[0].error = {"step": "define", "message": "Máy chủ từ chối định nghĩa máy ảo.", "host_message": LIBVIRT_ERROR}
    rows[0].progress, rows[0].current_step, rows[0].finished_at = 40, "define", now
    Job.objects.bulk_create(rows)
    return list(Job.objects.order_by("id"))


def _shares(users, vms) -> None:
    user, admin = users[USER], users[ADMIN]
    others = [users[name] for name in OTHERS]
    rows = [
        VMShare(vm=vms[0], user=others[0], level=ShareLevel.OPERATE, created_by=user),
        VMShare(vm=vms[0], user=others[1], level=ShareLevel.VIEW, created_by=user),
        VMShare(vm=vms[3], user=others[2], level=ShareLevel.VIEW, created_by=user),
    ]
    # VMs of others shared with the user, to view or to operate.
    theirs = [vm for vm in vms if vm.owner_id not in (user.pk, admin.pk) and vm.state != VMState.DELETED]
    rows += [
        VMShare(vm=vm, user=user, level=ShareLevel.OPERATE if k % 2 else ShareLevel.VIEW, created_by=vm.owner)
        for k, vm in enumerate(theirs[:10])
    ]
    rows += [VMShare(vm=vm, user=others[3], level=ShareLevel.VIEW, created_by=vm.owner) for vm in theirs[10:17]]
    VMShare.objects.bulk_create(rows)


def _audit(users, vms, requests, hosts, templates) -> None:
    user, admin = users[USER], users[ADMIN]
    others = [users[name] for name in OTHERS]
    rows = []

    def add(actor, action, obj, object_type, result=AuditResult.OK, **details):
        rows.append(
            AuditEntry(
                actor=actor,
                actor_name=actor.username if actor else "",
                action=action,
                object_type=object_type,
                object_id=str(obj.pk),
                object_name=obj.name,
                result=result,
                details=details,
            )
        )

    for k, vm in enumerate(vms[:80]):
        actor = vm.owner if k % 3 else admin
        add(actor, ["vm.start", "vm.shutdown", "vm.reboot", "vm.delete"][k % 4], vm, "vm", vcpus=vm.vcpus)
    for req in requests:
        add(req.requester, "request.submit", req, "request", template=req.template.name)
        if req.state in (RequestState.REJECTED, RequestState.PROVISIONED):
            add(admin, "request.approve" if req.state == RequestState.PROVISIONED else "request.reject", req, "request")
    for host in hosts[:15]:
        add(admin, "host.update", host, "host", fields=["enabled", "max_concurrent_jobs"])
    for template in templates:
        add(admin, "template.update", template, "template", version=template.version)
    add(user, "vm.share", vms[0], "vm", user=others[0].username, level=ShareLevel.OPERATE)
    add(others[2], "vm.start", vms[0], "vm", result=AuditResult.REFUSED)
    add(user, "vm.reboot", vms[0], "vm", result=AuditResult.FAILED, error="Máy chủ không trả lời.")
    AuditEntry.objects.bulk_create(rows)


def seed() -> Seeded:
    users = _users()
    hosts = _hosts()
    templates = _templates(users[ADMIN])
    vms = _vms(users, hosts, templates)
    images = _images(users[ADMIN], hosts)
    requests = _requests(users, templates, vms, hosts)
    jobs = _jobs(users, vms, images)
    _shares(users, vms)
    _audit(users, vms, requests, hosts, templates)
    Quota.objects.create(user=users[USER], max_vms=30, max_vcpus=64, max_memory_mib=131072, max_disk_gib=1000)

    names = set(users)
    names |= {h.name for h in hosts} | {t.name for t in templates} | {vm.name for vm in vms}
    names |= {i.name for i in images} | {i.volume for i in images} | {r.name for r in requests}
    names |= {"Lan", "Nguyễn", "celery@worker-1"}
    # The hosts' libvirt networks and pools are named by their admins ("default" is libvirt's own).
    names |= {n["name"] for h in hosts for key in ("networks", "pools") for n in h.capabilities.get(key, [])}
    return Seeded(
        user=users[USER],
        admin=users[ADMIN],
        vm=vms[0],
        stopped_vm=vms[1],
        deleted_vm=vms[2],
        request=requests[0],
        job=jobs[0],
        host=vms[0].host,
        ssh_host=next(h for h in hosts if h.uri.startswith("qemu+ssh")),
        template=templates[0],
        names=names,
    )
