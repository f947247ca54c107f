"""One contract for every `Storage`: the folder store and the S3 store against a real SeaweedFS."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from driftloop.core.settings import S3Settings
from driftloop.core.storage import (
    LocalStorage,
    ObjectNotFound,
    ObservedStorage,
    PreconditionFailed,
    Storage,
    StoreUnavailable,
    open_storage,
)
from driftloop.core.storage.s3 import S3Storage, make_client
from tests.servers import SeaweedEndpoint, answering

StoreFactory = Callable[[str], Storage]

WRITERS = 20


def _settings(endpoint: SeaweedEndpoint, secret: str | None = None) -> S3Settings:
    return S3Settings(
        endpoint_url=endpoint.endpoint_url,
        access_key_id=endpoint.access_key,
        secret_access_key=secret if secret is not None else endpoint.secret_key,
        max_attempts=2,
    )


@pytest.fixture(scope="module")
def s3_root(seaweed: SeaweedEndpoint) -> S3Storage:
    """The module's bucket, created through `from_url` as a user's first run would."""
    return S3Storage.from_url("s3://driftloop-tests/root", _settings(seaweed))


@pytest.fixture(params=["local", "s3"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Stores named by `name`, side by side, unique to this test (S3: a prefix named after the test)."""
    if request.param == "local":
        return lambda name: LocalStorage(tmp_path / name)
    root: S3Storage = request.getfixturevalue("s3_root")
    test_prefix = re.sub(r"[^A-Za-z0-9_-]+", "-", request.node.name)
    return lambda name: S3Storage(root.bucket, f"{root.prefix}/{test_prefix}/{name}", root.client)


@pytest.fixture
def store(make_store: StoreFactory) -> Storage:
    return make_store("store")


def test_round_trip(store: Storage) -> None:
    data = bytes(range(256)) * 3
    etag = store.write_bytes("runs/2024-01/model.bin", data)

    assert store.read_bytes("runs/2024-01/model.bin") == data
    assert store.etag("runs/2024-01/model.bin") == etag
    assert store.exists("runs/2024-01/model.bin")
    assert not store.exists("runs/2024-01/other.bin")
    assert store.etag("runs/2024-01/other.bin") is None


def test_large_object_round_trip(store: Storage) -> None:
    data = os.urandom(3 * 1024 * 1024)  # above the size where S3Storage asks `Expect: 100-continue`

    etag = store.write_bytes("data/batch.parquet", data, if_absent=True)

    assert store.read_bytes("data/batch.parquet") == data
    assert store.etag("data/batch.parquet") == etag


def test_overwrite_replaces_content_and_etag(store: Storage) -> None:
    first = store.write_bytes("pointer.json", b'{"version": 1}')
    second = store.write_bytes("pointer.json", b'{"version": 2}')

    assert second != first
    assert store.etag("pointer.json") == second
    assert store.read_bytes("pointer.json") == b'{"version": 2}'
    assert store.list("") == ["pointer.json"]


def test_if_absent_creates_once_and_keeps_the_first_content(store: Storage) -> None:
    created = store.write_bytes("registry/champion", b"model-a", if_absent=True)

    with pytest.raises(PreconditionFailed):
        store.write_bytes("registry/champion", b"model-b", if_absent=True)

    assert store.read_bytes("registry/champion") == b"model-a"
    assert store.etag("registry/champion") == created


def test_if_match_is_compare_and_swap(store: Storage) -> None:
    stale = store.write_bytes("registry/champion", b"v1")
    current = store.write_bytes("registry/champion", b"v2", if_match=stale)

    with pytest.raises(PreconditionFailed):
        store.write_bytes("registry/champion", b"v3", if_match=stale)
    assert store.read_bytes("registry/champion") == b"v2"

    newest = store.write_bytes("registry/champion", b"v3", if_match=current)
    assert store.read_bytes("registry/champion") == b"v3"
    assert store.etag("registry/champion") == newest


def test_if_match_on_a_missing_key_fails(store: Storage) -> None:
    etag = store.write_bytes("a", b"x")

    with pytest.raises(PreconditionFailed):
        store.write_bytes("b", b"y", if_match=etag)
    assert not store.exists("b")


def test_concurrent_compare_and_swap_has_exactly_one_winner(store: Storage) -> None:
    store.write_bytes("registry/champion", b"start")
    everyone_has_read = threading.Barrier(WRITERS)

    def writer(index: int) -> bytes | None:
        seen = store.etag("registry/champion")
        assert seen is not None
        everyone_has_read.wait(timeout=30)  # all read the same etag before anyone writes
        payload = f"writer-{index}".encode()
        try:
            store.write_bytes("registry/champion", payload, if_match=seen)
        except PreconditionFailed:
            return None
        return payload

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        results = list(pool.map(writer, range(WRITERS)))

    winners = [payload for payload in results if payload is not None]
    assert len(winners) == 1
    assert store.read_bytes("registry/champion") == winners[0]


def test_list_returns_sorted_relative_keys_under_the_prefix_only(make_store: StoreFactory) -> None:
    store = make_store("store")
    neighbour = make_store("storex")  # shares the store's name as a string prefix
    for key in ("runs/b", "runs/a", "runs/sub/c", "runsx/d", "other/e"):
        store.write_bytes(key, key.encode())
    neighbour.write_bytes("runs/z", b"not ours")

    assert store.list("runs") == ["runs/a", "runs/b", "runs/sub/c"]
    assert store.list("runs/") == ["runs/a", "runs/b", "runs/sub/c"]
    assert store.list("") == ["other/e", "runs/a", "runs/b", "runs/sub/c", "runsx/d"]
    assert store.list("missing") == []


def test_delete_removes_the_object(store: Storage) -> None:
    store.write_bytes("reports/2024-02.html", b"<html/>")

    store.delete("reports/2024-02.html")

    assert not store.exists("reports/2024-02.html")
    assert store.etag("reports/2024-02.html") is None
    assert store.list("reports") == []
    with pytest.raises(ObjectNotFound):
        store.read_bytes("reports/2024-02.html")
    store.delete("reports/2024-02.html")  # deleting what is gone is not an error


def test_read_of_a_missing_key_raises_object_not_found(store: Storage) -> None:
    with pytest.raises(ObjectNotFound) as raised:
        store.read_bytes("never/written")
    assert isinstance(raised.value, FileNotFoundError)


@pytest.mark.parametrize("key", ["../x", "/abs", "a//b", "a/./b", ""])
def test_invalid_keys_are_rejected(store: Storage, key: str) -> None:
    with pytest.raises(ValueError, match="invalid storage key"):
        store.write_bytes(key, b"x")
    with pytest.raises(ValueError, match="invalid storage key"):
        store.read_bytes(key)
    with pytest.raises(ValueError, match="invalid storage key"):
        store.exists(key)
    with pytest.raises(ValueError, match="invalid storage key"):
        store.delete(key)


def test_uri_names_the_object(store: Storage) -> None:
    uri = store.uri("models/m.txt")
    if isinstance(store, S3Storage):
        assert uri == f"s3://{store.bucket}/{store.prefix}/models/m.txt"
        assert store.url == f"s3://{store.bucket}/{store.prefix}"
    else:
        assert isinstance(store, LocalStorage)
        assert uri == str(store.root / "models" / "m.txt")


def test_local_crash_mid_write_keeps_old_content(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = LocalStorage(tmp_path / "store")
    store.write_bytes("registry/champion", b"old")

    def crash(src: str, dst: str) -> None:
        raise OSError("disk vanished")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk vanished"):
        store.write_bytes("registry/champion", b"new")
    monkeypatch.undo()

    assert store.read_bytes("registry/champion") == b"old"
    assert store.list("") == ["registry/champion"]
    assert sorted(path.name for path in (tmp_path / "store" / "registry").iterdir()) == ["champion"]


def test_from_url_creates_the_bucket_and_maps_the_prefix(seaweed: SeaweedEndpoint) -> None:
    store = S3Storage.from_url("s3://driftloop-fresh/a/b/", _settings(seaweed))
    again = S3Storage.from_url("s3://driftloop-fresh/a/b", _settings(seaweed))  # bucket exists now

    store.write_bytes("k", b"v")

    assert (store.bucket, store.prefix, store.url) == ("driftloop-fresh", "a/b", "s3://driftloop-fresh/a/b")
    assert again.read_bytes("k") == b"v"
    assert store.client.get_object(Bucket="driftloop-fresh", Key="a/b/k")["Body"].read() == b"v"


@pytest.mark.parametrize("url", ["s3://", "file:///tmp/x", "s3:///prefix-without-bucket"])
def test_from_url_rejects_urls_without_a_bucket(url: str) -> None:
    with pytest.raises(ValueError, match="not an S3 URL"):
        S3Storage.from_url(url, S3Settings())


def test_wrong_keys_are_one_store_unavailable_naming_the_settings(seaweed: SeaweedEndpoint) -> None:
    with pytest.raises(StoreUnavailable) as raised:
        S3Storage.from_url("s3://driftloop-tests/root", _settings(seaweed, secret="wrong" * 8))
    message = str(raised.value)
    assert message.startswith(f"s3://driftloop-tests/root: {seaweed.endpoint_url} refused the credentials")
    assert "DRIFTLOOP_S3_SECRET_ACCESS_KEY" in message


def test_a_closed_port_is_one_store_unavailable_naming_the_endpoint() -> None:
    import socket

    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    settings = S3Settings(endpoint_url=closed, access_key_id="k", secret_access_key="s", max_attempts=1)
    with pytest.raises(StoreUnavailable, match=f"cannot reach {closed}"):
        S3Storage.from_url("s3://anything/x", settings)


def test_a_failing_server_is_one_store_unavailable_naming_the_endpoint() -> None:
    """A gateway that answers 503 (its backend down) is an outage too, not an internal error."""
    body = b"<Error><Code>ServiceUnavailable</Code><Message>backend down</Message></Error>"
    with answering(503, body) as endpoint:
        settings = S3Settings(endpoint_url=endpoint, access_key_id="k", secret_access_key="s", max_attempts=1)
        store = S3Storage("bucket", "p", make_client(settings))
        with pytest.raises(StoreUnavailable) as read:
            store.read_bytes("a.json")
        with pytest.raises(StoreUnavailable) as written:
            store.write_bytes("a.json", b"{}", if_absent=True)

    for raised in (read, written):
        message = str(raised.value)
        assert message.startswith(f"s3://bucket/p: {endpoint} is failing (ServiceUnavailable, HTTP 503)")
        assert "DRIFTLOOP_S3_ENDPOINT_URL" in message


def test_a_presigned_link_opens_in_a_browser_and_only_with_its_signature(s3_root: S3Storage) -> None:
    import httpx

    store = S3Storage(s3_root.bucket, f"{s3_root.prefix}/links", s3_root.client)
    store.write_bytes("reports/drift.html", b"<html><body>drift</body></html>")

    link = store.link("reports/drift.html", 3600)
    opened = httpx.get(link)
    unsigned = httpx.get(link.split("?")[0])

    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in link and "X-Amz-Expires=3600" in link
    assert (opened.status_code, opened.headers["content-type"].split(";")[0]) == (200, "text/html")
    assert opened.text == "<html><body>drift</body></html>"
    assert unsigned.status_code == 403


def test_local_files_are_readable_by_the_team(tmp_path: Path) -> None:
    """A report opened from the store by a teammate: 0644, not the 0600 a temp file starts with."""
    store = LocalStorage(tmp_path / "store")
    store.write_bytes("reports/drift/flights/2013-06/flights-delay-v0001.html", b"<html></html>")
    store.write_bytes("registry/flights-delay/log/00000001.json", b"{}", if_absent=True)

    for key in (
        "reports/drift/flights/2013-06/flights-delay-v0001.html",
        "registry/flights-delay/log/00000001.json",
    ):
        assert (tmp_path / "store" / key).stat().st_mode & 0o777 == 0o644


def test_observed_storage_counts_reads_per_key(tmp_path: Path) -> None:
    store = ObservedStorage(LocalStorage(tmp_path))
    store.write_bytes("data/a/1.parquet", b"1")
    store.write_bytes("data/b/1.parquet", b"2")
    for key in ("data/a/1.parquet", "data/a/1.parquet", "data/b/1.parquet"):
        store.read_bytes(key)
    assert (store.reads_under("data/a"), store.reads_under("data/"), store.reads_under("x")) == (2, 3, 0)


def test_open_storage_reads_s3_settings_from_the_environment(
    seaweed: SeaweedEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith(("DRIFTLOOP_S3_", "AWS_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DRIFTLOOP_S3_ENDPOINT_URL", seaweed.endpoint_url)
    monkeypatch.setenv("DRIFTLOOP_S3_ACCESS_KEY_ID", seaweed.access_key)
    monkeypatch.setenv("DRIFTLOOP_S3_SECRET_ACCESS_KEY", seaweed.secret_key)

    store = open_storage("s3://driftloop-env/pre/fix", S3Settings())
    store.write_bytes("x.txt", b"from env")

    assert isinstance(store, S3Storage)
    assert store.url == "s3://driftloop-env/pre/fix"
    assert store.uri("x.txt") == "s3://driftloop-env/pre/fix/x.txt"
    assert store.read_bytes("x.txt") == b"from env"
    assert store.client.meta.endpoint_url == seaweed.endpoint_url

    monkeypatch.setenv("DRIFTLOOP_S3_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(StoreUnavailable):
        open_storage("s3://driftloop-env/pre/fix", S3Settings())
    with pytest.raises(ValueError, match="pass its S3Settings"):
        open_storage("s3://driftloop-env/pre/fix")


def test_open_storage_keeps_paths_local(tmp_path: Path) -> None:
    store = open_storage(str(tmp_path / "store"))
    assert isinstance(store, LocalStorage)
    assert isinstance(store, Storage)
    assert isinstance(open_storage((tmp_path / "other").as_uri()), LocalStorage)


def test_the_next_write_removes_what_a_killed_writer_left_and_keeps_a_live_ones(tmp_path: Path) -> None:
    folder = tmp_path / "store" / "registry"
    folder.mkdir(parents=True)
    begin = (
        "import os, signal, sys; from pathlib import Path; from driftloop.core.storage import local;"
        "local._temp_file(Path(sys.argv[1]), 'manifest.json'); "
    )
    repo = Path(__file__).resolve().parents[4]
    # A writer still at work (first: each writer sweeps the folder before its first temporary file).
    writing = subprocess.Popen(
        [sys.executable, "-c", begin + "print(flush=True); sys.stdin.read()", str(folder)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=repo,
    )  # fmt: skip
    try:
        assert writing.stdout is not None and writing.stdout.readline() == b"\n"  # its file is there
        [live] = folder.iterdir()
        # A writer killed (SIGKILL) between creating its temporary file and renaming it.
        killed = subprocess.run(
            [sys.executable, "-c", begin + "os.kill(os.getpid(), signal.SIGKILL)", str(folder)], cwd=repo
        )
        assert killed.returncode == -signal.SIGKILL
        [dead] = [path for path in folder.iterdir() if path != live]

        LocalStorage(tmp_path / "store").write_bytes("registry/champion", b"v1")

        assert sorted(folder.iterdir()) == sorted([folder / "champion", live])  # `dead` is gone
        assert f"-{writing.pid}." in live.name and dead.name.endswith(".tmp")
    finally:
        writing.communicate(b"")
