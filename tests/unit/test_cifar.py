"""Reading and fetching CIFAR-100 archives: real pickle layout, real HTTP, real failure modes."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import pickle
import tarfile
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image as PILImage

from harness import cifar
from harness.cifar import DatasetError
from harness.staging import encode_png
from tests.support.cifar import BICYCLE, MOTORCYCLE, batch, pattern_image, write_tarball


def test_keeps_only_bicycles_and_motorcycles_in_archive_order(small_tarball: Path) -> None:
    images = cifar.read_archive(small_tarball)
    assert [len(images["train"]), len(images["test"])] == [8, 4]
    train = images["train"]
    assert [im.fine_label for im in train] == [BICYCLE, MOTORCYCLE] * 4
    assert [im.label for im in train] == [0, 1] * 4
    assert [im.index for im in train] == list(range(8))
    # Filenames come from the archive; distractors (every 2nd of 3 rows) are gone.
    assert [im.filename for im in train[:2]] == ["train_000000.png", "train_000002.png"]


def test_orientation_matches_the_known_pattern(tmp_path: Path) -> None:
    """A row stored channel-major must come back as the HWC image it was made from, via PNG too."""
    tarball = write_tarball(tmp_path / "c.tar.gz", train=batch([BICYCLE], "p"), test=batch([MOTORCYCLE], "q"))
    image = cifar.read_archive(tarball)["train"][0]
    expected = pattern_image(0)
    assert image.pixels.shape == (32, 32, 3)
    np.testing.assert_array_equal(image.pixels, expected)
    # Red grows to the right, green downwards: top-right is red, bottom-left is green.
    assert tuple(image.pixels[0, 31]) == (248, 0, 0)
    assert tuple(image.pixels[31, 0]) == (0, 248, 0)
    decoded = np.asarray(PILImage.open(io.BytesIO(encode_png(image.pixels))).convert("RGB"))
    np.testing.assert_array_equal(decoded, expected)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(b"not a tarball at all"), "not a readable tar.gz"),
        (lambda p: write_tarball(p, members=("train", "meta")), "no member '<folder>/test'"),
        (
            lambda p: write_tarball(
                p, train={**batch([BICYCLE], "t"), b"data": np.zeros((1, 3000), np.uint8)}
            ),
            "rows have 3000 values, expected 3072",
        ),
        (
            lambda p: write_tarball(
                p, train={k: v for k, v in batch([BICYCLE], "t").items() if k != b"data"}
            ),
            "has no key 'data'",
        ),
        (
            lambda p: write_tarball(p, train={**batch([BICYCLE, BICYCLE], "t"), b"fine_labels": [BICYCLE]}),
            "2 rows but 1 labels",
        ),
        (lambda p: write_tarball(p, raw={"train": b"\x80\x02garbage"}), "not a readable CIFAR pickle"),
        (lambda p: write_tarball(p, raw={"test": pickle.dumps([1, 2, 3])}), "expected a dict, got list"),
        (
            lambda p: write_tarball(p, train={**batch([BICYCLE], "t"), b"filenames": [b"../evil.png"]}),
            "unsafe filename",
        ),
    ],
    ids=[
        "garbage",
        "missing-member",
        "row-length",
        "missing-key",
        "length-mismatch",
        "bad-pickle",
        "not-a-dict",
        "path-traversal",
    ],
)
def test_bad_archives_name_the_problem(tmp_path: Path, make, message: str) -> None:
    path = tmp_path / "bad.tar.gz"
    make(path)
    with pytest.raises(DatasetError, match=message.replace("(", r"\(").replace("'", "'")):
        cifar.read_archive(path)


def test_truncated_archive(small_tarball: Path, tmp_path: Path) -> None:
    data = small_tarball.read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match="truncated or corrupt"):
        cifar.read_archive(cut)


def test_a_huge_member_is_refused_by_its_header_before_it_is_read(tmp_path: Path, monkeypatch) -> None:
    """A small archive may hold a huge, highly compressed member: refused by size, at no memory cost."""
    monkeypatch.setattr(
        cifar, "MAX_MEMBER_BYTES", 1 << 20
    )  # the real cap is 256 MiB: the same check, smaller
    path = tmp_path / "bomb.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-100-python/train")
        info.size = 16 << 20
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    assert path.stat().st_size < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match="refused before reading it"):
            cifar.read_archive(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"{peak} bytes allocated to refuse a 16 MiB member"


def test_running_out_of_memory_is_a_named_error(small_tarball: Path, monkeypatch) -> None:
    def no_memory(data: bytes, where: str) -> dict:
        raise MemoryError

    monkeypatch.setattr(cifar, "_load_pickle", no_memory)
    with pytest.raises(DatasetError, match="not enough memory"):
        cifar.read_archive(small_tarball)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_pickles_cannot_run_code(tmp_path: Path) -> None:
    path = write_tarball(
        tmp_path / "evil.tar.gz", raw={"train": pickle.dumps({b"data": _Evil()}, protocol=2)}
    )
    with pytest.raises(DatasetError, match="refusing to load global"):
        cifar.read_archive(path)


# --- download over real HTTP ---------------------------------------------------------------------------


class _Server:
    """A real HTTP server on 127.0.0.1 serving in-memory files; counts requests per path."""

    def __init__(self, files: dict[str, bytes], lie_about_length: bool = False) -> None:
        self.files = files
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.requests.append(self.path)
                body = outer.files.get(self.path)
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                length = len(body) * 2 if lie_about_length else len(body)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def served(small_tarball: Path) -> Iterator[tuple[_Server, bytes]]:
    body = small_tarball.read_bytes()
    with _Server({"/cifar-100-python.tar.gz": body}) as server:
        yield server, body


def _cache_files(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.rglob("*")) if cache.exists() else []


def test_download_checks_md5_caches_and_reports_progress(served, tmp_path: Path) -> None:
    server, body = served
    md5 = hashlib.md5(body).hexdigest()
    seen: list[tuple[int, int | None]] = []
    url = server.url("/cifar-100-python.tar.gz")
    path = cifar.resolve_source(url, tmp_path / "cache", md5=md5, progress=lambda d, t: seen.append((d, t)))
    assert path.read_bytes() == body
    assert seen[-1] == (len(body), len(body))
    again = cifar.resolve_source(url, tmp_path / "cache", md5=md5)
    assert again == path
    assert server.requests == ["/cifar-100-python.tar.gz"], "a cached archive must not be downloaded again"
    assert len(cifar.read_archive(path)["train"]) == 8


def test_download_md5_mismatch_leaves_nothing(served, tmp_path: Path) -> None:
    server, _ = served
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match=r"md5 mismatch .* expected 0{32}"):
        cifar.resolve_source(server.url("/cifar-100-python.tar.gz"), cache, md5="0" * 32)
    assert _cache_files(cache) == []


def test_download_http_error_and_short_body(served, small_tarball: Path, tmp_path: Path) -> None:
    server, _ = served
    cache = tmp_path / "cache"
    with pytest.raises(DatasetError, match="HTTP 404"):
        cifar.resolve_source(server.url("/missing.tar.gz"), cache)
    with (
        _Server({"/c.tar.gz": small_tarball.read_bytes()}, lie_about_length=True) as liar,
        pytest.raises(DatasetError, match=r"cannot download|cut short"),
    ):
        cifar.resolve_source(liar.url("/c.tar.gz"), cache)
    assert _cache_files(cache) == []


def test_unreachable_url(tmp_path: Path) -> None:
    with _Server({}) as server:
        url = server.url("/x.tar.gz")
    # The server is closed now: nothing listens on that port.
    with pytest.raises(DatasetError, match="cannot download"):
        cifar.resolve_source(url, tmp_path / "cache")
    assert _cache_files(tmp_path / "cache") == []


def test_cached_file_that_no_longer_verifies_is_replaced(served, tmp_path: Path) -> None:
    server, body = served
    url = server.url("/cifar-100-python.tar.gz")
    cache = tmp_path / "cache"
    stale = cifar.cache_path_for(url, cache)
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"half a download")
    path = cifar.resolve_source(url, cache, md5=hashlib.md5(body).hexdigest())
    assert path.read_bytes() == body


def test_default_source_is_the_official_url_checked_against_its_md5(monkeypatch, tmp_path: Path) -> None:
    calls = []
    monkeypatch.setattr(cifar, "download", lambda url, dest, md5, progress: calls.append((url, dest, md5)))
    cifar.resolve_source(None, tmp_path)
    assert calls == [
        (cifar.OFFICIAL_URL, tmp_path / "cifar-100-python.tar.gz", "eb9058c3a382ffc7106e4002c42a8d85")
    ]


def test_local_path_errors(tmp_path: Path, small_tarball: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        cifar.resolve_source(str(tmp_path / "nope.tar.gz"), tmp_path)
    with pytest.raises(DatasetError, match="md5 mismatch"):
        cifar.resolve_source(str(small_tarball), tmp_path, md5="f" * 32)
    assert cifar.resolve_source(str(small_tarball), tmp_path) == small_tarball
