"""Downloads against a real loopback HTTP server: resume, retries, hash checks, cancelling."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from studio import downloads
from studio.downloads import DOWNLOAD_TASK, DownloadError, download
from studio.tasks import Cancelled

PAYLOAD = bytes(range(256)) * 24  # 6 KiB


@dataclass
class ServerState:
    payload: bytes = PAYLOAD
    mode: str = "normal"  # normal | ignore_range | truncate | drop_once | always_drop
    ranges: list[str | None] = field(default_factory=list)
    drops: int = 0


class Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def log_message(self, *args) -> None:  # keep the test output quiet
        pass

    def do_GET(self) -> None:
        st: ServerState = self.server.state  # type: ignore[attr-defined]
        rng = self.headers.get("Range")
        st.ranges.append(rng)
        if self.path != "/file.bin":
            self.send_error(404)
            return
        start = 0
        if rng and st.mode not in ("ignore_range", "truncate"):
            start = int(rng.removeprefix("bytes=").split("-")[0])
        body = st.payload[start:]
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(st.payload) - 1}/"
                                              f"{len(st.payload)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = len(body)
        if st.mode == "truncate" or (st.mode == "drop_once" and st.drops == 0):
            cut = len(body) // 2
        elif st.mode == "always_drop":
            cut = 0 if start else len(body) // 2
        if cut < len(body):
            st.drops += 1
            self.close_connection = True
        try:
            self.wfile.write(body[:cut])
            self.wfile.flush()
        except OSError:
            pass  # the client went away (a cancel)


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    httpd.state = ServerState()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/file.bin"  # type: ignore
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch(server, tmp_path, **kw) -> Path:
    kw.setdefault("sha256", sha(server.state.payload))
    kw.setdefault("size", len(server.state.payload))
    kw.setdefault("partial_dir", tmp_path / "parts")
    kw.setdefault("backoff", 0)
    kw.setdefault("timeout", 5)
    return download(kw.pop("url", server.url), tmp_path / "out" / "file.bin", **kw)


def test_normal_download(server, tmp_path):
    seen = []
    path = fetch(server, tmp_path, on_progress=lambda have, total: seen.append((have, total)))
    assert path.read_bytes() == PAYLOAD
    assert seen[-1] == (len(PAYLOAD), len(PAYLOAD))
    assert server.state.ranges == [None]
    assert list((tmp_path / "parts").iterdir()) == []


def test_drop_midway_resumes_with_range(server, tmp_path):
    server.state.mode = "drop_once"
    notes = []
    path = fetch(server, tmp_path, on_log=notes.append)
    assert path.read_bytes() == PAYLOAD
    assert server.state.ranges == [None, f"bytes={len(PAYLOAD) // 2}-"]
    assert any("resuming" in n for n in notes)


def test_truncated_fails_after_retries(server, tmp_path):
    server.state.mode = "truncate"
    with pytest.raises(DownloadError) as info:
        fetch(server, tmp_path, retries=2)
    half, whole = len(PAYLOAD) // 2, len(PAYLOAD)
    assert str(info.value) == f"connection closed after {half} of {whole} bytes: {server.url}"
    assert len(server.state.ranges) == 4  # the first try, then two that brought nothing new
    assert not (tmp_path / "out" / "file.bin").exists()


def test_always_drop_fails_without_dest(server, tmp_path):
    server.state.mode = "always_drop"
    with pytest.raises(DownloadError, match="connection closed after"):
        fetch(server, tmp_path, retries=3)
    assert not (tmp_path / "out" / "file.bin").exists()
    assert len(server.state.ranges) == 5


def test_http_404(server, tmp_path):
    url = server.url.replace("file.bin", "missing.bin")
    with pytest.raises(DownloadError) as info:
        fetch(server, tmp_path, url=url)
    assert str(info.value) == f"HTTP 404 Not Found: {url}"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_wrong_hash_discards_part(server, tmp_path):
    wrong = "ab" * 32
    with pytest.raises(DownloadError) as info:
        fetch(server, tmp_path, sha256=wrong)
    got = sha(PAYLOAD)
    assert str(info.value) == (f"sha256 mismatch for file.bin: expected {wrong[:12]}..., "
                               f"got {got[:12]}...; file discarded")
    assert not (tmp_path / "out" / "file.bin").exists()
    assert not (tmp_path / "parts" / f"{wrong}.part").exists()


def test_server_ignoring_range_restarts(server, tmp_path):
    server.state.mode = "ignore_range"
    parts = tmp_path / "parts"
    parts.mkdir()
    (parts / f"{sha(PAYLOAD)}.part").write_bytes(b"\xff" * 1000)  # not even a prefix
    path = fetch(server, tmp_path)
    assert path.read_bytes() == PAYLOAD
    assert server.state.ranges == ["bytes=1000-"]


def test_cancel_keeps_part_and_resumes(server, tmp_path, monkeypatch):
    monkeypatch.setattr(downloads, "CHUNK_SIZE", 1024)
    held = [0]

    def progress(have, total):
        held[0] = have

    with pytest.raises(Cancelled):
        fetch(server, tmp_path, on_progress=progress, is_cancelled=lambda: held[0] >= 2048)
    part = tmp_path / "parts" / f"{sha(PAYLOAD)}.part"
    assert not (tmp_path / "out" / "file.bin").exists()
    kept = part.stat().st_size
    assert 2048 <= kept < len(PAYLOAD)

    path = fetch(server, tmp_path)
    assert path.read_bytes() == PAYLOAD
    assert server.state.ranges[-1] == f"bytes={kept}-"
    assert not part.exists()


# ---------------------------------------------------------------------------------------------
# The task and the command line.


def weights_payload() -> bytes:
    import torch
    from safetensors.torch import save

    return save({"w": torch.arange(1000, dtype=torch.float32)})


def test_download_task_installs_model(server, tmp_path, monkeypatch):
    from studio import device as devices
    from studio.execution import Execution
    from studio.models import ModelStore
    from studio.tasks import Log, Progress

    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    server.state.payload = data = weights_payload()
    card = {
        "id": "remote", "capability": "write", "title": "Remote", "architecture": "none",
        "config": {}, "licence": "MIT", "training_data": "none", "command": "", "quality": {},
        "files": [{"name": "model.safetensors", "sha256": sha(data), "size": len(data),
                   "url": server.url}],
    }
    store = ModelStore([tmp_path / "shipped", tmp_path / "user"], extra_cards=[("p", card)])
    assert not store.is_installed(store.get("remote"))

    events = []
    params = DOWNLOAD_TASK.make_params({"model_id": "remote"})
    Execution(DOWNLOAD_TASK, params, devices.pick("cpu"), models=store).run(
        lambda e, s: events.append(e))
    assert any(isinstance(e, Log) and "downloading model.safetensors" in e.message
               for e in events)
    progress = [e for e in events if isinstance(e, Progress)]
    assert progress[-1].fraction == 1.0
    installed = store.get("remote")
    assert installed.folder == tmp_path / "user" / "remote"
    assert (installed.folder / "card.json").is_file()
    assert store.is_installed(installed) and store.verify("remote") == []
    _, weights = store.load("remote")
    assert weights["w"].shape == (1000,)


def test_download_task_failure_leaves_no_card(server, tmp_path, monkeypatch):
    from studio import device as devices
    from studio.execution import Execution, TaskFailed
    from studio.models import ModelStore

    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    card = {
        "id": "bad", "capability": "write", "title": "Bad", "architecture": "none",
        "config": {}, "licence": "MIT", "training_data": "none", "command": "", "quality": {},
        "files": [{"name": "model.safetensors", "sha256": "cd" * 32, "size": len(PAYLOAD),
                   "url": server.url}],
    }
    store = ModelStore([tmp_path / "shipped", tmp_path / "user"], extra_cards=[card])
    params = DOWNLOAD_TASK.make_params({"model_id": "bad"})
    with pytest.raises(TaskFailed, match="sha256 mismatch for model.safetensors"):
        Execution(DOWNLOAD_TASK, params, devices.pick("cpu"), models=store).run()
    assert not (tmp_path / "user" / "bad" / "card.json").exists()
    assert not store.is_installed(store.get("bad"))


def test_cli_download(server, tmp_path, monkeypatch, capsys):
    from studio import paths
    from studio.cli import main
    from studio.models import ModelCard

    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    server.state.payload = data = weights_payload()
    shipped = tmp_path / "shipped"
    monkeypatch.setattr(paths, "shipped_models_dir", lambda: shipped)
    # A shipped card whose weights are not there yet: download puts them in the user store.
    card = ModelCard.from_dict({
        "id": "cli", "capability": "write", "title": "Cli", "architecture": "none",
        "config": {}, "licence": "MIT", "training_data": "none", "command": "", "quality": {},
        "files": [{"name": "model.safetensors", "sha256": sha(data), "size": len(data),
                   "url": server.url}],
    })
    card.save(shipped / "cli" / "card.json")

    assert main(["models", "list"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("cli "))
    assert row.split()[2] == "no"
    assert main(["models", "download", "cli"]) == 0
    capsys.readouterr()
    assert main(["models", "verify", "cli"]) == 0
    assert "cli: ok" in capsys.readouterr().out
    assert (paths.models_dir() / "cli" / "model.safetensors").read_bytes() == data


def test_size_mismatch_discards_part(server, tmp_path):
    short = len(PAYLOAD) - 100
    with pytest.raises(DownloadError, match=rf"^size mismatch for file.bin: expected {short} "
                                            r"bytes, got \d+; file discarded$"):
        fetch(server, tmp_path, size=short)
    assert not (tmp_path / "out" / "file.bin").exists()
    assert list((tmp_path / "parts").iterdir()) == []


def test_unreachable_host(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/file.bin"
    with pytest.raises(DownloadError, match=f"^cannot reach 127.0.0.1:{port}: "):
        download(url, tmp_path / "out" / "file.bin", sha(PAYLOAD), len(PAYLOAD),
                 partial_dir=tmp_path / "parts", retries=1, backoff=0, timeout=5)
    assert not (tmp_path / "out" / "file.bin").exists()


def test_download_task_cancelled_keeps_part_and_no_card(server, tmp_path, monkeypatch):
    from studio import device as devices
    from studio import paths
    from studio.execution import Execution
    from studio.models import ModelStore
    from studio.tasks import Progress

    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(downloads, "CHUNK_SIZE", 1024)
    card = {
        "id": "slow", "capability": "write", "title": "Slow", "architecture": "none",
        "config": {}, "licence": "MIT", "training_data": "none", "command": "", "quality": {},
        "files": [{"name": "model.bin", "sha256": sha(PAYLOAD), "size": len(PAYLOAD),
                   "url": server.url}],
    }
    store = ModelStore([tmp_path / "shipped", tmp_path / "user"], extra_cards=[card])
    params = DOWNLOAD_TASK.make_params({"model_id": "slow"})
    part = paths.downloads_dir() / f"{sha(PAYLOAD)}.part"
    seen: list[Progress] = []

    def on_event(event, saved) -> None:
        if isinstance(event, Progress) and event.fraction:
            seen.append(event)

    with pytest.raises(Cancelled):  # cancelled at the first progress report
        Execution(DOWNLOAD_TASK, params, devices.pick("cpu"), models=store).run(
            on_event, is_cancelled=lambda: bool(seen))
    assert seen[0].message == f"model.bin: 0.0 of {len(PAYLOAD) / 1e6:.1f} MB"
    assert 1024 <= part.stat().st_size < len(PAYLOAD)
    assert not (tmp_path / "user" / "slow" / "card.json").exists()
    assert not store.is_installed(store.get("slow"))

    Execution(DOWNLOAD_TASK, params, devices.pick("cpu"), models=store).run()
    assert store.is_installed(store.get("slow")) and store.verify("slow") == []
    assert server.state.ranges[-1].startswith("bytes=")


def test_a_file_without_a_published_checksum_is_trusted_on_first_use_then_checked(
        server, tmp_path, monkeypatch):
    import json

    from studio import device as devices
    from studio.execution import Execution, TaskFailed
    from studio.models import ModelStore
    from studio.tasks import Log

    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    server.state.payload = data = weights_payload()
    card = {
        "id": "unsigned", "capability": "write", "title": "No checksum", "architecture": "none",
        "config": {}, "licence": "MIT", "training_data": "none", "command": "", "quality": {},
        "files": [{"name": "model.safetensors", "sha256": "", "size": 0, "url": server.url}],
    }
    store = ModelStore([tmp_path / "user"], extra_cards=[("p", card)])
    assert not store.is_installed(store.get("unsigned"))

    def download() -> list:
        events = []
        params = DOWNLOAD_TASK.make_params({"model_id": "unsigned"})
        Execution(DOWNLOAD_TASK, params, devices.pick("cpu"), models=store).run(
            lambda e, s: events.append(e))
        return [e for e in events if isinstance(e, Log)]

    logs = download()
    assert any(e.level == "warning" and "no checksum is published for model.safetensors"
               in e.message for e in logs)
    installed = store.get("unsigned")
    [f] = installed.files
    assert (f.sha256, f.size) == (sha(data), len(data))  # the card lists what came
    assert store.verify("unsigned") == [] and store.load("unsigned")[1]["w"].shape == (1000,)
    [src] = installed.sources
    assert src["checksum"] == "first use" and src["sha256"] == sha(data) and src["recorded"]
    ledger = json.loads((tmp_path / "user" / ".sources.json").read_text())
    assert ledger[server.url]["sha256"] == sha(data)

    store.remove("unsigned")  # the ledger stays: the next download is checked against it
    logs = download()
    assert any("matches the sha256 recorded at its first download" in e.message for e in logs)

    store.remove("unsigned")
    server.state.payload = data[:-4] + b"XXXX"
    with pytest.raises(TaskFailed, match="model.safetensors differs from the copy first "
                                         "downloaded .*sha256 mismatch"):
        download()
    assert not store.is_installed(store.get("unsigned"))
