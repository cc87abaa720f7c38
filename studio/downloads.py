"""Downloading model files: resumable, verified, atomic, cancellable (urllib only).

A file is fetched into ``<partial_dir>/<sha256>.part``. A dropped connection is resumed with an
HTTP Range request (a server that answers 200 instead of 206 is read again from the start); once
the part is whole its size and sha256 are checked and it is renamed onto ``dest``. Whatever goes
wrong, ``dest`` is only ever absent or complete: a part with the wrong hash is deleted, and a
cancelled part is kept so the next call resumes it.

``DOWNLOAD_TASK`` installs every missing file of a model card into the user store, writing the
card last so that a half-downloaded model is never listed as installed. A file declared without
a sha256 (its publisher gives none) is checked against the one recorded when it was first
downloaded, or, the first time, trusted as it comes and recorded (trust on first use, see
``studio.models``); a card with a ``convert`` function gets the converted weights installed,
not the file as downloaded.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import json
import os
import re
import shutil
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import studio
from studio import paths
from studio.atomic import fsync_dir, fsync_file, write_atomic, write_atomic_with
from studio.errors import UserError
from studio.models import SHA_RE, ModelCard, ModelFile, card_path, sha256_file
from studio.tasks import Cancelled, Context, Event, Log, Progress, Task, param

CHUNK_SIZE = 64 * 1024
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class DownloadError(UserError):
    """A download that failed; the message is one line naming what went wrong."""


class _Retry(Exception):
    """An attempt that ended early but may succeed if tried again."""


# A step of a download: bytes held, total bytes (None when unknown), and a note ("" or a line
# worth logging, such as a resume).
Step = tuple[int, int | None, str]


def download(
    url: str,
    dest: Path,
    sha256: str,
    size: int | None,
    on_progress: Callable[[int, int | None], None] = lambda have, total: None,
    is_cancelled: Callable[[], bool] = lambda: False,
    partial_dir: Path | None = None,
    timeout: float = 30,
    retries: int = 3,
    backoff: float = 0.5,
    on_log: Callable[[str], None] = lambda line: None,
) -> Path:
    """Download ``url`` to ``dest`` and return ``dest``; raise DownloadError or Cancelled."""
    for have, total, note in fetch(url, dest, sha256, size, is_cancelled, partial_dir,
                                   timeout=timeout, retries=retries, backoff=backoff):
        if note:
            on_log(note)
        else:
            on_progress(have, total)
    return Path(dest)


def fetch(
    url: str,
    dest: Path,
    sha256: str,
    size: int | None,
    is_cancelled: Callable[[], bool] = lambda: False,
    partial_dir: Path | None = None,
    timeout: float = 30,
    retries: int = 3,
    backoff: float = 0.5,
) -> Iterator[Step]:
    """``download`` as a generator of steps, for callers that yield their own events.
    ``retries`` counts attempts in a row that brought no new bytes. An empty ``sha256``
    (none known) skips the hash check: the caller decides what to trust."""
    dest = Path(dest)
    partial_dir = Path(partial_dir) if partial_dir is not None else paths.downloads_dir()
    partial_dir.mkdir(parents=True, exist_ok=True)
    part = partial_dir / f"{sha256 or 'url-' + hashlib.sha256(url.encode()).hexdigest()}.part"
    best = _size_of(part)
    failures = 0
    while True:
        if is_cancelled():
            raise Cancelled()
        have = _size_of(part)
        if size is not None and have > size:
            part.unlink()
            have = 0
        if size is not None and have == size:
            break
        if have:
            yield have, size, f"resuming {dest.name} at {_mb(have)}"
        try:
            yield from _attempt(url, part, have, size, timeout, is_cancelled)
            break
        except _Retry as exc:
            reason = str(exc)
        now = _size_of(part)
        if now > best:
            best, failures = now, 0
            yield now, size, f"{reason}; resuming"
            continue
        failures += 1
        if failures > retries:
            raise DownloadError(reason)
        yield now, size, f"{reason}; retrying ({failures} of {retries})"
        _sleep(min(backoff * 2 ** (failures - 1), 10.0), is_cancelled)

    _finish(part, dest, sha256, size)
    yield _size_of(dest), size, ""


def _attempt(
    url: str,
    part: Path,
    have: int,
    size: int | None,
    timeout: float,
    is_cancelled: Callable[[], bool],
) -> Iterator[Step]:
    """One request: append to ``part`` from byte ``have``. Returns when the body is whole;
    raises _Retry when it was cut short."""
    headers = {"User-Agent": f"studio/{studio.__version__}"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                      timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        message = f"HTTP {exc.code} {exc.reason}: {url}"
        if exc.code == 416 and have:  # our part is no prefix of theirs
            part.unlink(missing_ok=True)
            raise _Retry(message) from None
        if exc.code >= 500 or exc.code in (408, 429):
            raise _Retry(message) from None
        raise DownloadError(message) from None
    except urllib.error.URLError as exc:
        host = urllib.parse.urlsplit(url).netloc or url
        raise _Retry(f"cannot reach {host}: {getattr(exc.reason, 'strerror', None) or exc.reason}"
                     ) from None
    except (OSError, http.client.HTTPException) as exc:
        raise _Retry(f"connection failed: {exc or type(exc).__name__}") from None

    with resp:
        mode, start, end = _resume_point(resp, have, part)
        if start < have:
            yield 0, size, "the server ignored the range request; starting again from byte 0"
        have = start
        total = size if size is not None else end
        with open(part, mode) as f:
            while True:
                if is_cancelled():
                    raise Cancelled()
                try:
                    chunk = resp.read1(CHUNK_SIZE)
                except (OSError, http.client.HTTPException):
                    chunk = b""  # judged below as a short body
                if not chunk:
                    break
                f.write(chunk)
                have += len(chunk)
                yield have, total, ""
                if size is not None and have > size:
                    break  # more than the card says: the size check rejects it
            f.flush()
            os.fsync(f.fileno())
    if size is not None and have > size:
        return
    expected_end = end if end is not None else size
    if expected_end is not None and have < expected_end:
        of = f" of {total}" if total is not None else ""
        raise _Retry(f"connection closed after {have}{of} bytes: {url}")


def _resume_point(
    resp: http.client.HTTPResponse, have: int, part: Path
) -> tuple[str, int, int | None]:
    """The file mode, the offset the body starts at, and where it should end (None: unknown)."""
    length = resp.headers.get("Content-Length")
    length_n = int(length) if length and length.isdigit() else None
    if resp.status == 206:
        m = _CONTENT_RANGE.match(resp.headers.get("Content-Range", ""))
        if m and int(m.group(1)) == have:
            return "ab", have, int(m.group(2)) + 1
        part.unlink(missing_ok=True)  # start over on the next try
        raise _Retry(f"the server answered a range other than bytes={have}-")
    # 200: the whole file again (a server that ignores Range included).
    return "wb", 0, length_n


def _finish(part: Path, dest: Path, sha256: str, size: int | None) -> None:
    """Check the whole part and move it onto ``dest``; a wrong part is deleted."""
    got = _size_of(part)
    if size is not None and got != size:
        part.unlink(missing_ok=True)
        raise DownloadError(f"size mismatch for {dest.name}: expected {size} bytes, got {got}; "
                            "file discarded")
    digest = sha256_file(part) if sha256 else ""
    if digest != sha256:
        part.unlink(missing_ok=True)
        raise DownloadError(f"sha256 mismatch for {dest.name}: expected {sha256[:12]}..., "
                            f"got {digest[:12]}...; file discarded")
    fsync_file(part)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(part, dest)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        _copy_across(part, dest)
    fsync_dir(dest.parent)


def _copy_across(part: Path, dest: Path) -> None:
    """Move between file systems: copy into the destination folder, then rename."""
    write_atomic_with(dest, lambda tmp: shutil.copyfile(part, tmp))
    part.unlink(missing_ok=True)


def _size_of(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _sleep(seconds: float, is_cancelled: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if is_cancelled():
            raise Cancelled()
        time.sleep(min(left, 0.1))


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


# ---------------------------------------------------------------------------------------------
# The task.


@dataclass
class DownloadParams:
    model_id: str = param(help="id of the model to download (see `studio models list`)",
                          label="Model")


def download_model(p: DownloadParams, ctx: Context) -> Iterator[Event]:
    """Fetch every missing file of a card into the user store, then write the card."""
    store = ctx.models
    if store is None:
        raise UserError("no model store to download into")
    card = store.get(p.model_id)
    if store.is_installed(card):
        yield Log(f"{card.id} is already installed in {card.folder}")
        yield Progress(1.0, "installed")
        return
    declared = store.declared(card.id)
    if declared is not None and declared.convert is not None:
        yield from _download_converted(declared, store, ctx)
        return
    target = store.user_dir / card.id
    todo = []
    for f in card.files:
        path = target / f.name
        if f.sha256 and path.is_file() and path.stat().st_size == f.size \
                and sha256_file(path) == f.sha256:
            continue
        if not f.url:
            raise UserError(f"model {card.id!r}: {f.name} has no download address; "
                            "import the model instead")
        todo.append(f)
    total = sum(f.size for f in todo) or 1
    done = 0
    files, sources = list(card.files), []
    for f in todo:
        path = target / f.name
        path.unlink(missing_ok=True)  # a wrong copy from before
        got, source = yield from _fetch_file(f, path, store.user_dir, ctx, done, total)
        done += f.size
        if got.sha256 != f.sha256:  # recorded now: the card lists what was checked
            files = [got if x.name == f.name else x for x in files]
        sources.append(source)
    installed = replace(card, folder=target, files=files, sources=sources)
    installed.save(card_path(target))
    _record_first_use(store.user_dir, sources)
    yield Progress(1.0, f"{card.id}: {_mb(installed.size)} installed")
    yield Log(f"installed {card.id} in {target}")


def _download_converted(card: ModelCard, store: Any, ctx: Context) -> Iterator[Event]:
    """A model published as a foreign checkpoint: download it, convert it with the card's
    ``convert`` and install the result."""
    from studio.model_import import install_converted

    if len(card.files) != 1 or not card.files[0].url:
        raise UserError(f"model {card.id!r}: a converted model is one file with an address")
    f = card.files[0]
    part = paths.downloads_dir() / card.id / f.name
    try:
        _, source = yield from _fetch_file(f, part, store.user_dir, ctx, 0, max(f.size, 1))
        yield Progress(None, f"converting {f.name}")
        installed = install_converted(part, card, store.user_dir, source=source)
    finally:
        part.unlink(missing_ok=True)
    _record_first_use(store.user_dir, [source])
    yield Progress(1.0, f"{card.id}: {_mb(installed.size)} installed")
    yield Log(f"installed {card.id} in {installed.folder} (converted from {f.name})")


def _fetch_file(f: ModelFile, dest: Path, store_dir: Path, ctx: Context, done: int,
                total: int) -> Iterator[Event]:
    """Download one file of a card to ``dest``, checked against its published sha256, or the
    one recorded at its first download; returns the file as it came (sha256, size) and its
    entry for the installed card's ``sources``."""

    sha256, size = f.sha256, f.size or None
    known = None if sha256 else recorded_source(store_dir, f.url)
    if known is not None:
        sha256, size = known["sha256"], int(known.get("size") or 0) or None
    about = f" ({_mb(size)})" if size else ""
    yield Log(f"downloading {f.name}{about} from {f.url}")
    last = 0.0
    steps = fetch(f.url, dest, sha256, size, ctx.is_cancelled, paths.downloads_dir())
    try:
        for have, whole, note in steps:
            if note:
                yield Log(note)
            now = time.monotonic()
            if now - last >= 0.1:
                last = now
                of = whole or size
                share = (done + have) / total if total > 1 else (have / of if of else None)
                yield Progress(None if share is None else min(1.0, share),
                               f"{f.name}: {have / 1e6:.1f}"
                               + (f" of {of / 1e6:.1f}" if of else "") + " MB")
    except DownloadError as exc:
        if known is None:
            raise
        raise DownloadError(f"{f.name} differs from the copy first downloaded "
                            f"({known.get('recorded', '?')}): {exc}; the file at {f.url} has "
                            "changed since, so it is not trusted") from None
    digest = sha256_file(dest)
    if f.sha256:
        pass  # checked by fetch against the published sha256
    elif known is not None:
        yield Log(f"{f.name} matches the sha256 recorded at its first download "
                  f"({known.get('recorded', '?')}): {digest[:16]}...")
    else:
        yield Log(f"no checksum is published for {f.name}: this first download is trusted as "
                  f"it came, and its sha256 {digest[:16]}... is recorded; later downloads must "
                  "match it (trust on first use)", "warning")
    got = ModelFile(f.name, digest, dest.stat().st_size, f.url)
    source = {"name": f.name, "url": f.url, "sha256": digest, "size": got.size,
              "checksum": "published" if f.sha256 else "first use",
              "recorded": known.get("recorded") if known else _now()}
    return got, source


def _record_first_use(store_dir: Path, sources: list[dict[str, Any]]) -> None:

    for src in sources:
        if src["checksum"] == "first use":
            record_source(store_dir, src["url"], src["sha256"], src["size"], src["recorded"])


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds")


DOWNLOAD_TASK = Task(
    "models.download", "Download a model", DownloadParams, download_model,
    description="Download a model's files, resuming where a previous try stopped, and check "
                "their sha256 before installing them.",
)


# The ledger of files first downloaded without a published checksum: url -> what came.
LEDGER_NAME = ".sources.json"
_ledger_lock = threading.Lock()


def recorded_source(store_dir: Path, url: str) -> dict[str, Any] | None:
    """What the first download from ``url`` was ({"sha256", "size", "recorded"}), if any."""
    entry = _read_ledger(Path(store_dir)).get(url)
    return entry if isinstance(entry, dict) and SHA_RE.match(str(entry.get("sha256"))) \
        else None


def record_source(store_dir: Path, url: str, sha256: str, size: int, recorded: str) -> None:
    """Remember the sha256 of the first download from ``url`` (trust on first use)."""
    store_dir = Path(store_dir)
    with _ledger_lock:
        ledger = _read_ledger(store_dir)
        ledger.setdefault(url, {"sha256": sha256, "size": size, "recorded": recorded})
        store_dir.mkdir(parents=True, exist_ok=True)
        text = json.dumps(ledger, indent=2, sort_keys=True) + "\n"
        write_atomic(store_dir / LEDGER_NAME, text.encode("utf-8"))


def _read_ledger(store_dir: Path) -> dict[str, Any]:
    try:
        ledger = json.loads((store_dir / LEDGER_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return ledger if isinstance(ledger, dict) else {}
