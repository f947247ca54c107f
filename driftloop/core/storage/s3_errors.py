"""How S3 failures read: an outage or refused credentials become one `StoreUnavailable` naming the endpoint.

botocore raises a different exception for each way a request can fail; callers of the store only need
to know whether it is unavailable (retry later, or fix a setting) and where. Everything else — a missing
key, a lost conditional write — stays with `S3Storage`, which knows what it asked.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from driftloop.core.storage.base import StoreUnavailable

# The server answered, but it will not let these credentials in: a setting to fix, not a bug.
_CREDENTIAL_CODES = frozenset(
    {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403", "InvalidToken", "ExpiredToken"}
)
# The server answered, but it is failing (a gateway whose backend is down, a server stopping): after
# botocore's own retries, the store is unavailable, exactly as if it could not be reached.
_SERVER_FAILING_MIN_STATUS = 500
_Result = TypeVar("_Result")


class _Endpoint(Protocol):
    url: str
    endpoint: str | None


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@contextlib.contextmanager
def unreachable_as(store_url: str, endpoint: str | None) -> Iterator[None]:
    """Turn "cannot connect", "server failing" and "credentials refused" into one `StoreUnavailable`."""
    where = endpoint or "AWS S3 (boto3's default endpoint)"
    try:
        yield
    except NoCredentialsError as error:
        raise StoreUnavailable(
            f"{store_url}: no S3 credentials: "
            "set DRIFTLOOP_S3_ACCESS_KEY_ID and DRIFTLOOP_S3_SECRET_ACCESS_KEY"
        ) from error
    except ClientError as error:
        code = error_code(error)
        if code in _CREDENTIAL_CODES:
            raise StoreUnavailable(
                f"{store_url}: {where} refused the credentials ({code}): "
                "check DRIFTLOOP_S3_ACCESS_KEY_ID and DRIFTLOOP_S3_SECRET_ACCESS_KEY"
            ) from error
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if status >= _SERVER_FAILING_MIN_STATUS:
            raise StoreUnavailable(
                f"{store_url}: {where} is failing ({code}, HTTP {status}): is the S3 server up and "
                "healthy? (DRIFTLOOP_S3_ENDPOINT_URL)"
            ) from error
        raise
    except BotoCoreError as error:
        raise StoreUnavailable(
            f"{store_url}: cannot reach {where} ({type(error).__name__}): is the S3 server up? "
            "(DRIFTLOOP_S3_ENDPOINT_URL)"
        ) from error


def reachable(method: Callable[..., _Result]) -> Callable[..., _Result]:
    """A store method whose S3 failures surface as `unreachable_as` says."""

    @functools.wraps(method)
    def wrapper(self: _Endpoint, *args: Any, **kwargs: Any) -> _Result:
        with unreachable_as(self.url, self.endpoint):
            return method(self, *args, **kwargs)

    return wrapper
