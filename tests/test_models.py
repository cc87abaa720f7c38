"""Model cards, the model store, checkpoint import, and `studio models` on the command line."""

from __future__ import annotations

import hashlib
import json
import os
from importlib import metadata
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from studio import cli, paths
from studio.errors import UserError
from studio.model_import import import_checkpoint
from studio.models import (
    ModelCard,
    ModelCardError,
    ModelFile,
    ModelStore,
    card_path,
    sha256_file,
)


def card_dict(model_id: str = "tiny", **over) -> dict:
    d = {
        "id": model_id, "capability": "paint", "title": "Tiny", "architecture": "mlp",
        "config": {"width": 4}, "files": [], "licence": "MIT", "training_data": "none",
        "command": "python train.py", "quality": {"loss": 0.5},
    }
    d.update(over)
    return d


def install(root: Path, model_id: str, tensors: dict | None = None, **over) -> ModelCard:
    """A model folder in ``root`` with one safetensors file and its card."""
    folder = root / model_id
    folder.mkdir(parents=True)
    weights = folder / "weights.safetensors"
    save_file(tensors or {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}, str(weights))
    entry = {"name": weights.name, "sha256": sha256_file(weights), "size": weights.stat().st_size}
    card = ModelCard.from_dict(card_dict(model_id, files=[entry], **over), folder=folder)
    card.save(card_path(folder))
    return card


# ---------------------------------------------------------------------------------------------
# Cards.


def test_card_round_trip(tmp_path):
    sha = "ab" * 32
    d = card_dict(files=[{"name": "a.safetensors", "sha256": sha, "size": 10,
                          "url": "https://example.org/a"}], description="hi")
    card = ModelCard.from_dict(d)
    assert card.files == [ModelFile("a.safetensors", sha, 10, "https://example.org/a")]
    assert card.to_dict() == d
    assert card.weights_sha256 == sha
    card.save(card_path(tmp_path))
    loaded = ModelCard.load(card_path(tmp_path))
    assert loaded == card and loaded.folder == tmp_path
    assert "folder" not in json.loads(card_path(tmp_path).read_text())
    assert ModelCard.from_dict(card_dict()).weights_sha256 == ""


@pytest.mark.parametrize("change, message", [
    ({"licence": None}, "model card 'tiny': missing field 'licence'"),
    ({"config": []}, "model card 'tiny': field 'config' should be an object, not a list"),
    ({"id": "../x"}, "field 'id' should be letters"),
    ({"files": [{"name": "a", "sha256": "ab" * 32, "size": "9"}]},
     "model card 'tiny': files[0].size should be an integer, not a string"),
    ({"files": [{"name": "a", "sha256": "xyz", "size": 9}]},
     "files[0].sha256 should be 64 lowercase hex digits"),
    ({"files": [{"name": "../a", "sha256": "ab" * 32, "size": 9}]},
     "files[0].name '../a' should be a plain file name"),
    ({"files": [{"sha256": "ab" * 32, "size": 9}]}, "files[0]: missing field 'name'"),
])
def test_card_validation_names_card_and_field(change, message):
    d = card_dict()
    for key, value in change.items():
        if value is None:
            del d[key]
        else:
            d[key] = value
    with pytest.raises(ModelCardError) as err:
        ModelCard.from_dict(d)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_card_load_reports_bad_json(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{not json")
    with pytest.raises(ModelCardError, match=r"x\.json: not valid JSON"):
        ModelCard.load(path)


# ---------------------------------------------------------------------------------------------
# The store.


@pytest.fixture
def roots(tmp_path) -> tuple[Path, Path]:
    return tmp_path / "shipped", tmp_path / "user"


def test_store_lists_shipped_user_and_declared(roots, tmp_path):
    shipped, user = roots
    install(shipped, "alpha")
    install(shipped, "beta", title="shipped beta")
    install(user, "beta", title="user beta")
    install(user, "gamma")
    (user / "broken").mkdir()
    card_path(user / "broken").write_text("[]")
    declared = tmp_path / "plugin" / "delta.json"
    declared.parent.mkdir()
    ModelCard.from_dict(card_dict("delta")).save(declared)
    remote = {"name": "w.safetensors", "sha256": "ab" * 32, "size": 9, "url": "http://x/w"}
    store = ModelStore([shipped, user], extra_cards=[
        ("someplugin", card_dict("epsilon", files=[remote])),
        ("someplugin", card_dict("alpha", title="x")),
        ("otherplugin", declared), ("badplugin", {"id": "zeta"}),
    ])
    cards = {c.id: c for c in store.cards()}
    assert sorted(cards) == ["alpha", "beta", "delta", "epsilon", "gamma"]
    assert cards["beta"].title == "user beta"  # the user shadows the shipped one
    assert cards["alpha"].title == "Tiny"  # an installed card shadows a declared one
    assert [store.origin(cards[k]) for k in ("alpha", "beta", "delta", "epsilon")] == [
        "shipped", "user", "plugin", "plugin"]
    assert store.is_installed(cards["gamma"]) and not store.is_installed(cards["epsilon"])
    assert any("broken/card.json" in e for e in store.errors)
    assert any(e.startswith("plugin badplugin: model card 'zeta': missing field") for e in
               store.errors)
    with pytest.raises(UserError) as err:
        store.get("nope")
    assert str(err.value) == "unknown model 'nope' (known: alpha, beta, delta, epsilon, gamma)"


def test_load_checks_sha_and_detects_corruption(roots):
    shipped, user = roots
    card = install(user, "tiny")
    store = ModelStore([shipped, user])
    loaded, weights = store.load("tiny")
    assert loaded.weights_sha256 == card.weights_sha256
    assert torch.equal(weights["w"], torch.arange(6, dtype=torch.float32).reshape(2, 3))
    assert store.verify("tiny") == []

    path = user / "tiny" / "weights.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # same size, different bytes
    path.write_bytes(bytes(data))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    with pytest.raises(UserError, match=r"model 'tiny' is corrupt: sha256 mismatch for "
                                        r"weights\.safetensors: expected [0-9a-f]{12}\.\.\., got"):
        store.load("tiny")
    [problem] = store.verify("tiny")
    assert problem.startswith("sha256 mismatch for weights.safetensors")

    path.write_bytes(b"short")
    assert store.verify("tiny") == [
        f"size mismatch for weights.safetensors: expected {card.files[0].size} bytes, found 5"]
    path.unlink()
    assert store.verify("tiny") == ["missing file weights.safetensors"]
    with pytest.raises(UserError, match="model 'tiny' is not installed; import it"):
        store.load("tiny")


def test_remove_only_user_models(roots):
    shipped, user = roots
    install(shipped, "tiny")
    install(user, "tiny", title="mine")
    store = ModelStore([shipped, user])
    assert store.remove("tiny") == user / "tiny"
    assert not (user / "tiny").exists()
    assert store.get("tiny").folder == shipped / "tiny"  # the shipped one is back
    with pytest.raises(UserError, match="only user models can be removed"):
        store.remove("tiny")


# ---------------------------------------------------------------------------------------------
# Importing checkpoints.


def small_state() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "module.conv.weight": torch.randn(4, 3, 3, 3, generator=g),
        "module.conv.bias": torch.randn(4, generator=g),
        "module.norm.running_mean": torch.zeros(4),  # a stray InstanceNorm buffer
        "module.steps": torch.tensor(7),
    }


EXPECTED = {"conv.weight": (4, 3, 3, 3), "conv.bias": (4,), "steps": ()}


def drop_norm(key: str) -> bool:
    return "running_" in key


def strip_module(key: str) -> str:
    return key.removeprefix("module.")


def test_import_pth_with_drop_and_rename(tmp_path):
    src = tmp_path / "ckpt.pth"
    state = small_state()
    torch.save({"state_dict": state, "epoch": 3}, src)
    store_dir = tmp_path / "user"
    card = import_checkpoint(src, "painter", "paint", expected=EXPECTED, rename=strip_module,
                             drop=drop_norm, card_fields={"licence": "MIT"}, store_dir=store_dir)
    [f] = card.files
    path = store_dir / "painter" / f.name
    assert f.sha256 == sha256_file(path) and f.size == path.stat().st_size
    tensors = load_file(str(path))
    assert sorted(tensors) == ["conv.bias", "conv.weight", "steps"]
    assert tensors["conv.weight"].dtype == torch.float16
    assert tensors["steps"].dtype == torch.int64  # integers keep their dtype
    assert torch.allclose(tensors["conv.weight"].float(), state["module.conv.weight"], atol=1e-3)
    assert ModelCard.load(card_path(store_dir / "painter")) == card
    assert card.licence == "MIT" and card.title == "painter"

    store = ModelStore([tmp_path / "none", store_dir])
    loaded, weights = store.load("painter")
    assert loaded.weights_sha256 == f.sha256 and weights["conv.bias"].shape == (4,)


def test_reimport_replaces(tmp_path):
    store_dir = tmp_path / "user"
    for value in (1.0, 2.0):
        src = tmp_path / f"v{value}.pt"
        torch.save({"w": torch.full((3,), value)}, src)
        import_checkpoint(src, "m", "paint", store_dir=store_dir, dtype=None)
    names = sorted(p.name for p in (store_dir / "m").iterdir())
    assert len(names) == 2 and "card.json" in names  # the old weights are gone
    _, weights = ModelStore([store_dir]).load("m")
    assert weights["w"].dtype == torch.float32 and weights["w"].tolist() == [2.0, 2.0, 2.0]


def test_import_safetensors_source(tmp_path):
    src = tmp_path / "in.safetensors"
    save_file({"a": torch.ones(2, 2, dtype=torch.float64)}, str(src))
    card = import_checkpoint(src, "s", "paint", store_dir=tmp_path / "user")
    assert load_file(str(card.folder / card.files[0].name))["a"].dtype == torch.float16


def test_import_shape_mismatch_and_key_lists(tmp_path):
    src = tmp_path / "ckpt.pth"
    state = small_state()
    state["module.conv.weight"] = torch.zeros(8, 3, 3, 3)
    state["module.extra"] = torch.zeros(1)
    torch.save({"model": state}, src)
    expected = {**EXPECTED, "head.weight": (2, 4), "head.bias": (2,)}
    with pytest.raises(UserError) as err:
        import_checkpoint(src, "m", "paint", expected=expected, rename=strip_module,
                          drop=drop_norm, store_dir=tmp_path / "user")
    assert str(err.value) == (
        "ckpt.pth does not fit m: missing 2 keys: head.bias, head.weight; "
        "unexpected 1 key: extra; "
        "1 shape mismatch: conv.weight expected (4, 3, 3, 3), got (8, 3, 3, 3)")
    assert not (tmp_path / "user" / "m").exists()


def test_import_truncates_long_key_lists(tmp_path):
    src = tmp_path / "ckpt.pt"
    torch.save({"a": torch.zeros(1)}, src)
    expected = {f"k{i}": (1,) for i in range(8)} | {"a": (1,)}
    with pytest.raises(UserError, match=r"missing 8 keys: k0, k1, k2, k3, k4, \.\.\. \(3 more\)$"):
        import_checkpoint(src, "m", "paint", expected=expected, store_dir=tmp_path)


class _Evil:
    """Unpickling this would create a file: a stand-in for running any code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_import_refuses_pickled_code(tmp_path):
    marker = tmp_path / "pwned"
    src = tmp_path / "evil.pth"
    torch.save({"w": torch.zeros(2), "payload": _Evil(marker)}, src)
    with pytest.raises(UserError) as err:
        import_checkpoint(src, "evil", "paint", store_dir=tmp_path / "user")
    message = str(err.value)
    assert message.startswith("refused to load evil.pth: unsafe pickle, it would run code "
                              "(io.open)")
    assert "\n" not in message
    assert not marker.exists()
    assert not (tmp_path / "user" / "evil").exists()


def test_import_rejects_other_inputs(tmp_path):
    with pytest.raises(UserError, match="no such file"):
        import_checkpoint(tmp_path / "none.pth", "m", "paint", store_dir=tmp_path)
    (tmp_path / "w.ckpt").write_bytes(b"x")
    with pytest.raises(UserError, match=r"unsupported checkpoint type '\.ckpt'"):
        import_checkpoint(tmp_path / "w.ckpt", "m", "paint", store_dir=tmp_path)
    torch.save({"lr": 0.1, "epoch": 3}, tmp_path / "opt.pt")
    with pytest.raises(UserError, match="opt.pt: no state dict found"):
        import_checkpoint(tmp_path / "opt.pt", "m", "paint", store_dir=tmp_path)
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot read junk.pth"):
        import_checkpoint(tmp_path / "junk.pth", "m", "paint", store_dir=tmp_path)


def test_sha256_file(tmp_path):
    path = tmp_path / "f"
    data = os.urandom(3 * 1024 * 1024 + 5)
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------
# The command line.


@pytest.fixture
def isolated_cli(user_data, tmp_path, monkeypatch) -> Path:
    """`studio` with an empty user folder, no shipped models and no installed plugins."""
    monkeypatch.setattr(paths, "shipped_models_dir", lambda: tmp_path / "no-shipped")
    names = ",".join(ep.name for ep in metadata.entry_points(group="studio.plugins"))
    monkeypatch.setenv("STUDIO_DISABLE_PLUGINS", names)
    return user_data


def test_cli_import_list_show_verify_remove(isolated_cli, tmp_path, capsys):
    assert cli.main(["models", "list"]) == 0
    assert "no models" in capsys.readouterr().out

    src = tmp_path / "ckpt.pth"
    torch.save(small_state(), src)
    assert cli.main(["models", "import", str(src), "--id", "tiny", "--capability", "paint",
                     "--licence", "CC-BY-4.0"]) == 0
    assert "imported tiny" in capsys.readouterr().out

    assert cli.main(["models", "list"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert header.split() == ["ID", "CAPABILITY", "INSTALLED", "SIZE", "LICENCE"]
    assert row.split()[:3] == ["tiny", "paint", "yes"] and row.endswith("CC-BY-4.0")
    assert header.index("CAPABILITY") == row.index("paint")  # aligned columns

    assert cli.main(["models", "show", "tiny"]) == 0
    shown = capsys.readouterr().out
    assert "capability:" in shown and "tiny-" in shown and "licence:" in shown

    assert cli.main(["models", "verify"]) == 0
    assert capsys.readouterr().out.strip() == "tiny: ok"

    [weights] = (isolated_cli / "models" / "tiny").glob("*.safetensors")
    weights.write_bytes(b"oops")
    assert cli.main(["models", "verify"]) == 1
    assert capsys.readouterr().out.startswith("tiny: size mismatch for tiny-")

    assert cli.main(["models", "remove", "tiny"]) == 0
    assert not (isolated_cli / "models" / "tiny").exists()
    capsys.readouterr()
    assert cli.main(["models", "show", "tiny"]) == 2
    assert "unknown model 'tiny'" in capsys.readouterr().err


def test_cli_import_bad_input(isolated_cli, tmp_path, capsys):
    code = cli.main(["models", "import", str(tmp_path / "none.pth"), "--id", "x",
                     "--capability", "paint"])
    assert code == 2
    missing = tmp_path / "none.pth"
    assert capsys.readouterr().err.strip() == f"studio: error: no such file: {missing}"


# ---------------------------------------------------------------------------------------------
# Cards without published checksums, sources, and plugins' converters.


def test_a_file_without_a_published_sha256_is_known_but_not_installed(tmp_path):
    d = card_dict(files=[{"name": "net.pth", "sha256": "", "size": 0,
                          "url": "https://example.org/net.pth"}])
    card = ModelCard.from_dict(d)
    assert card.unverified == card.files and card.to_dict() == {**d, "description": ""}
    store = ModelStore([tmp_path / "user"], extra_cards=[d])
    assert not store.is_installed(store.get("tiny"))
    with pytest.raises(UserError, match="not installed; run `studio models download tiny`"):
        store.load("tiny")


def test_sources_round_trip_and_are_checked(tmp_path):
    src = {"name": "net.pth", "url": "https://example.org/net.pth", "sha256": "ab" * 32,
           "size": 10, "checksum": "first use", "recorded": "2026-01-01T00:00:00+00:00"}
    card = ModelCard.from_dict(card_dict(sources=[src]))
    assert card.sources == [src] and card.to_dict()["sources"] == [src]
    assert "sources" not in ModelCard.from_dict(card_dict()).to_dict()
    with pytest.raises(ModelCardError, match="sources\\[0\\] should be an object"):
        ModelCard.from_dict(card_dict(sources=["x"]))


def _plugin_card(convert) -> ModelCard:
    card = ModelCard.from_dict(card_dict("noise.published", files=[
        {"name": "net.pth", "sha256": "", "size": 0, "url": "https://example.org/net.pth"}]))
    card.convert = convert
    return card


def test_a_declared_cards_converter_is_kept_and_used_by_import(tmp_path):
    def convert(state, card):
        if "head.weight" not in state:
            raise UserError("no head.weight")
        return {"net." + k: v for k, v in state.items() if not k.endswith("_tracked")}

    from studio.model_import import install_converted

    declared = _plugin_card(convert)
    store = ModelStore([tmp_path / "user"], extra_cards=[("plugin", declared)])
    assert store.declared("noise.published").convert is convert
    assert store.declared("nothing") is None
    src = tmp_path / "net.pth"
    torch.save({"head.weight": torch.ones(2, 2), "bn.num_batches_tracked": torch.tensor(3)}, src)
    card = install_converted(src, store.declared("noise.published"), store.user_dir,
                             source={"name": "net.pth", "checksum": "imported"})
    assert card.folder == tmp_path / "user" / "noise.published"
    assert card.sources == [{"name": "net.pth", "checksum": "imported"}]
    assert card.config == {"width": 4} and card.licence == "MIT"
    assert store.is_installed(store.get("noise.published"))
    _, weights = store.load("noise.published")
    assert list(weights) == ["net.head.weight"] and weights["net.head.weight"].dtype == \
        torch.float16
    torch.save({"tail.weight": torch.ones(2)}, tmp_path / "other.pth")
    with pytest.raises(UserError, match="other.pth does not fit noise.published: no head.weight"):
        install_converted(tmp_path / "other.pth", store.declared("noise.published"),
                          store.user_dir)


def test_cli_import_with_like_converts_under_a_new_id(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STUDIO_DATA_DIR", str(tmp_path / "data"))
    declared = _plugin_card(lambda state, card: {"net." + k: v for k, v in state.items()})
    monkeypatch.setattr(ModelStore, "from_registry",
                        classmethod(lambda cls, reg, roots=None: cls(
                            [paths.models_dir()], extra_cards=[("plugin", declared)])))
    src = tmp_path / "net.pth"
    torch.save({"head.weight": torch.ones(2, 2)}, src)
    assert cli.main(["models", "import", str(src), "--id", "mine", "--like",
                     "noise.published"]) == 0
    assert "imported mine (converted as noise.published)" in capsys.readouterr().out
    card = ModelCard.load(paths.models_dir() / "mine" / "card.json")
    assert card.id == "mine" and card.sources[0]["sha256"] == sha256_file(src)
    assert cli.main(["models", "import", str(src), "--id", "x", "--like", "nothing"]) == 2
    assert "--like: no declared model 'nothing'" in capsys.readouterr().err
