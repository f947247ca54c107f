"""The Prefect server's health probe, through Prefect's own client: healthy only when the API answers
with our credentials, and quick either way (the caller polls it)."""

from __future__ import annotations

import time

from deployments.stack.ports import free_port
from deployments.stack.prefect_services import server_answers
from deployments.stack.secrets import StackSecrets
from deployments.stack.settings import StackSettings
from tests.servers import answering


def _probe(port: int) -> tuple[bool | None, float]:
    began = time.monotonic()
    answer = server_answers(StackSettings(prefect_port=port), StackSecrets.generate())
    return answer, time.monotonic() - began


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def test_the_server_is_healthy_when_its_health_route_answers() -> None:
    with answering(200, b"true") as url:
        assert _probe(_port(url))[0] is True


def test_a_server_that_refuses_the_credentials_or_is_not_up_is_not_healthy_yet() -> None:
    with answering(401, b'{"exception_message": "Unauthorized"}') as url:
        refused, refused_took = _probe(_port(url))
    down, down_took = _probe(free_port())

    assert (refused, down) == (None, None)
    assert refused_took < 5 and down_took < 5  # no retries with backoff: the caller asks again
