"""Issue 13: console frames are size-checked before they are parsed."""

from __future__ import annotations

import json

import pytest
from asgiref.sync import sync_to_async

from vms.consumers.vm import MAX_FRAME_BYTES, MAX_INPUT_BYTES

from .helpers import closed_with, login, make_user, make_vm, open_vm_socket, still_open

pytestmark = pytest.mark.django_db(transaction=True)


@sync_to_async
def owned_console_path() -> tuple[str, bytes]:
    owner = make_user("owner")
    return f"/ws/vms/{make_vm(owner).uuid}/console/", login(owner)[1]


@pytest.mark.parametrize(
    "frame",
    [
        # Not even JSON: today it is parsed (all of it) and dropped without a word.
        {"text_data": "[" * (MAX_FRAME_BYTES + 1)},
        {"text_data": json.dumps({"type": "console.input", "data": "x" * MAX_FRAME_BYTES})},
        {"bytes_data": b"x" * (MAX_FRAME_BYTES + 1)},
    ],
    ids=["text-garbage", "text-json", "bytes"],
)
async def test_an_oversized_console_frame_closes_the_socket_unparsed(frame):
    path, cookie = await owned_console_path()
    console = await open_vm_socket(path, cookie)
    await console.send_to(**frame)
    code, frames = await closed_with(console)
    assert code == 1009  # RFC 6455: message too big
    assert [json.loads(f["text"])["type"] for f in frames] == ["error"]  # the page says why


async def test_a_paste_over_the_input_limit_but_under_the_frame_limit_only_gets_an_error():
    path, cookie = await owned_console_path()
    console = await open_vm_socket(path, cookie)
    await console.send_json_to({"type": "console.input", "data": "x" * (MAX_INPUT_BYTES + 1)})
    assert (await console.receive_json_from(timeout=5))["type"] == "error"
    assert await still_open(console)
    await console.disconnect()


async def test_a_deeply_nested_frame_under_the_limit_is_ignored_not_a_crash():
    """json.loads raises RecursionError (not ValueError) on deep nesting: today it kills the consumer."""
    path, cookie = await owned_console_path()
    console = await open_vm_socket(path, cookie)
    await console.send_to(text_data="[" * 50_000)
    await console.send_json_to({"type": "console.input", "data": "x" * (MAX_INPUT_BYTES + 1)})
    assert (await console.receive_json_from(timeout=5))["type"] == "error"  # still answering
    await console.disconnect()
