"""The README's "Calling it over HTTP" curl examples, run as written against a live gateway
(only the host:port is replaced by the test server's)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from dispatcher.pb import dispatch_pb2 as pb

if TYPE_CHECKING:
    from tests.service.conftest import Http

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed"),
]

README = Path(__file__).resolve().parents[2] / "README.md"
DOCUMENTED_BASE = "http://127.0.0.1:8080"


def shell_blocks() -> list[str]:
    """The ```sh blocks of the README section "Calling it over HTTP", in order."""
    text = README.read_text()
    section = text.split("### Calling it over HTTP", 1)[1].split("\n### ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)


async def run(
    script: str, base: str, timeout_s: float | None = None
) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-c",
        script.replace(DOCUMENTED_BASE, base),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,  # its own process group: a timeout stops curl too
    )
    assert proc.stdout is not None
    output = asyncio.ensure_future(proc.stdout.read())  # kept whole across a timeout
    try:
        await asyncio.wait_for(proc.wait(), timeout_s)
    except TimeoutError:
        os.killpg(proc.pid, signal.SIGTERM)
        await proc.wait()
    return proc.returncode or 0, (await output).decode()


async def test_readme_curl_examples_work(auth_http: Http) -> None:
    """Each block exits 0 and does what the README says; the submit replays; the error
    example answers the Status body; the events example streams SSE messages."""
    blocks = shell_blocks()
    assert len(blocks) == 5, "update this test with the README"
    setup, submit, reads, error, events = blocks
    token = setup.splitlines()[0]  # TOKEN=...
    assert token.startswith("TOKEN=")
    code, out = await run("set -e\n" + setup, auth_http.base)
    assert code == 0, out
    code, first = await run(f"set -e\n{token}\n{submit}", auth_http.base)
    assert code == 0, first
    code, second = await run(f"set -e\n{token}\n{submit}", auth_http.base)
    assert code == 0, second
    assert '"replayed":true' not in first.replace(" ", "")
    assert '"replayed":true' in second.replace(" ", "")
    code, out = await run(f"set -e\n{token}\n{reads}", auth_http.base)
    assert code == 0, out
    admin = (("authorization", "Bearer acme-admin"),)
    got = await auth_http.stubs.tickets.GetTicket(
        pb.GetTicketRequest(ticket_id="T-1001"), metadata=admin
    )
    assert got.title == "no heating, 3rd floor"
    code, out = await run(f"set -e\n{token}\n{error}", auth_http.base)
    assert code == 0, out
    assert '"code":5' in out.replace(" ", "")
    code, out = await run(f"{token}\n{events}", auth_http.base, timeout_s=3.0)
    assert out.count("data: ") >= 1, out
    assert '"ticketId":"T-1001"' in out
