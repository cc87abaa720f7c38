"""The compose plugin's model side: MuseGAN's layers and sizes, the data pipeline, training
(resumable), generation with re-rolls and morphs, rendering and the metrics task. Small
hand-made music and small models only."""

from __future__ import annotations

import io
import json
import wave
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import torch
import torch.nn.functional as F

from studio.errors import UserError
from studio.execution import TaskFailed
from studio.models import ModelStore
from studio.tasks import Log, Output, Preview
from studio.testing import run_task
from studio.training import read_checkpoint
from studio_compose import GENERATE, METRICS, RENDER, loading, train
from studio_compose.data import decode, encode, phrases, read_corpus, transpose
from studio_compose.instruments import parse_instruments
from studio_compose.musegan import (
    AxisConv,
    Critic,
    Generator,
    Inputs,
    LineCritic,
    MuseGANConfig,
    Upsample,
    drift_features,
    harden,
    harmony_features,
    line_features,
    parameter_count,
)
from studio_compose.score import REST, Score
from studio_compose.train import TRAIN, write_model_folder

SMALL = MuseGANConfig(n_bars=2, n_steps=8, n_pitches=36, lowest_pitch=48)


def run(task, values: dict, store: ModelStore | None = None, seed: int = 0) -> list:
    """Run a task as Studio does (studio.testing); the events it yielded."""
    return run_task(task, values, models=store, seed=seed).events


def chorale(n_steps: int, shift: int = 0) -> list[list[int]]:
    """Four voices walking a C major scale at different speeds, with a rest in the alto."""
    scale = [60, 62, 64, 65, 67, 69, 71, 72]
    steps = []
    for t in range(n_steps):
        s = scale[(t // 2) % 8] + 7 + shift
        a = -1 if t % 16 == 15 else scale[(t // 4) % 8] + 5 + shift
        steps.append([s, a, scale[(t // 4) % 8] + shift, 48 + shift])
    return steps


@pytest.fixture(scope="module")
def chorales(tmp_path_factory):
    path = tmp_path_factory.mktemp("music") / "chorales.json"
    path.write_text(json.dumps({"train": [chorale(64, k) for k in range(4)],
                                "valid": [chorale(32, 2)], "test": []}))
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store holding an untrained small model (generation works without training)."""
    root = tmp_path_factory.mktemp("models")
    torch.manual_seed(0)
    write_model_folder(root / "tiny", Generator(SMALL), Critic(SMALL), SMALL, licence="test")
    return ModelStore([root])


# --- the network --------------------------------------------------------------------------


def test_book_sizes_and_shapes():
    cfg = MuseGANConfig()
    gen, critic = Generator(cfg), Critic(cfg)
    # FACTS: generator about 6.6M, critic 1.45M parameters
    assert round(parameter_count(gen) / 1e6, 1) == 6.6
    assert round(parameter_count(critic) / 1e6, 2) == 1.45
    gen.eval()
    x = gen(*Inputs.sample(cfg, 3))
    assert x.shape == (3, 4, 2, 16, 84) and x.abs().max() <= 1
    assert critic(x).shape == (3,)


@pytest.mark.parametrize("axis", [1, 2])
def test_upsample_is_a_transposed_convolution(axis):
    up = Upsample(6, 5, 3, axis=axis, last=True)
    x = torch.randn(2, 4, 7, 6)
    stride = (3, 1) if axis == 1 else (1, 3)
    ref = F.conv_transpose2d(x.permute(0, 3, 1, 2), up.weight, up.bias, stride=stride)
    torch.testing.assert_close(up(x), ref.permute(0, 2, 3, 1))


@pytest.mark.parametrize(("axis", "kernel", "stride", "same"),
                         [(1, 2, 1, False), (2, 4, 2, True), (2, 3, 2, True), (3, 7, 7, False)])
def test_axis_conv_is_a_conv3d(axis, kernel, stride, same):
    conv = AxisConv(6, 5, axis, kernel, stride, same)
    x = torch.randn(2, 3, 8, 14, 6)
    xt = x.permute(0, 4, 1, 2, 3)
    if same:
        total = max((-(-8 // stride) - 1) * stride + kernel - 8, 0)
        xt = F.pad(xt, (0, 0, total // 2, total - total // 2))
    strides = [1, 1, 1]
    strides[axis - 1] = stride
    ref = F.leaky_relu(F.conv3d(xt, conv.weight, conv.bias, stride=strides), 0.2)
    torch.testing.assert_close(conv(x), ref.permute(0, 2, 3, 4, 1))


def test_softmax_output_plays_one_pitch_or_silence_per_step():
    cfg = MuseGANConfig(**{**SMALL.to_dict(), "output": "softmax"})
    torch.manual_seed(0)
    gen = Generator(cfg).eval()
    assert parameter_count(gen) == parameter_count(Generator(SMALL)) + cfg.n_tracks
    with torch.no_grad():
        x = gen(*Inputs.sample(cfg, 5))
        assert x.abs().max() <= 1
        on = (x + 1) / 2  # the softmax's pitch probabilities
        assert torch.all(on.sum(-1) <= 1 + 1e-5)  # at most one pitch: the rest is silence
        gen.output.silence.fill_(100.0)  # silence outscores every pitch: every voice rests
        assert (decode(gen(*Inputs.sample(cfg, 2)), cfg) == REST).all()
        gen.output.silence.fill_(-100.0)  # silence never wins: a note at every step
        assert (decode(gen(*Inputs.sample(cfg, 2)), cfg) != REST).all()


def test_a_model_loads_only_into_its_own_output_kind():
    soft = MuseGANConfig(**{**SMALL.to_dict(), "output": "softmax"})
    weights = {f"generator.{k}": v for k, v in Generator(soft).state_dict().items()}
    weights |= {f"critic.{k}": v for k, v in Critic(soft).state_dict().items()}
    gen, _ = loading.build(soft.to_dict(), weights)
    assert gen.cfg.output == "softmax"
    with pytest.raises(loading.WeightsError, match="generator.output.silence"):
        loading.build(SMALL.to_dict(), weights)


def test_the_chroma_stream_starts_silent_and_hears_pitch_classes_not_octaves():
    chroma_cfg = MuseGANConfig(**{**SMALL.to_dict(), "critic_chroma": True})
    torch.manual_seed(0)
    critic, book = Critic(chroma_cfg), Critic(SMALL)
    book.load_state_dict({k: v for k, v in critic.state_dict().items()
                          if not k.startswith("chroma.")})
    x = encode(np.array(chorale(16), dtype=np.int16)[None], SMALL)
    torch.testing.assert_close(critic(x), book(x))  # added to a trained critic: no change yet
    torch.nn.init.normal_(critic.chroma.out.weight)
    up_an_octave, up_a_semitone = x.roll(12, dims=-1), x.roll(1, dims=-1)
    torch.testing.assert_close(critic.chroma(up_an_octave), critic.chroma(x))
    assert not torch.allclose(critic.chroma(up_a_semitone), critic.chroma(x))
    weights = {f"generator.{k}": v for k, v in Generator(chroma_cfg).state_dict().items()}
    weights |= {f"critic.{k}": v for k, v in critic.state_dict().items()}
    assert loading.build(chroma_cfg.to_dict(), weights)[1].chroma is not None
    with pytest.raises(loading.WeightsError, match="critic.chroma"):
        loading.build(SMALL.to_dict(), weights)


def test_the_contour_stream_starts_silent_and_reads_each_voices_line():
    cfg = MuseGANConfig(**{**SMALL.to_dict(), "critic_contour": True, "critic_chroma": True})
    torch.manual_seed(0)
    critic, book = Critic(cfg), Critic(SMALL)
    book.load_state_dict({k: v for k, v in critic.state_dict().items()
                          if not k.startswith(("chroma.", "contour."))})
    grid = np.array(chorale(16), dtype=np.int16)
    x = encode(grid[None], SMALL)
    torch.testing.assert_close(critic(x), book(x))  # added to a trained critic: no change yet
    f = critic.contour.features(x)[0]  # (3 * tracks, time): sounding, pitch, change rows
    sounds, pitch, change = f[:4], f[4:8], f[8:]
    torch.testing.assert_close(sounds[1], torch.tensor(grid[:, 1] >= 0, dtype=torch.float32))
    rows = (grid[:, 0] - SMALL.lowest_pitch) / (SMALL.n_pitches - 1)  # the soprano's line
    torch.testing.assert_close(pitch[0], torch.tensor(rows, dtype=torch.float32), atol=2e-3,
                               rtol=0)
    # the soprano moves every second step, the bass holds one note, the alto rests at step 15
    assert change[0].tolist() == [0, 0] + [1, 0] * 7 and not change[3].any()
    assert change[1, 15] == 0.5
    torch.nn.init.normal_(critic.contour.out.weight)
    assert not torch.allclose(critic.contour(x.roll(12, dims=-1)), critic.contour(x))
    weights = {f"generator.{k}": v for k, v in Generator(cfg).state_dict().items()}
    weights |= {f"critic.{k}": v for k, v in critic.state_dict().items()}
    assert loading.build(cfg.to_dict(), weights)[1].contour is not None

    def slope(x):  # the size of the stream's gradient, as the gradient penalty measures it
        x = x.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(critic.contour(x).sum(), x)
        return grad.norm().item()

    silent = -torch.ones_like(x)  # a real rest is exactly -1: no steep slope there
    assert slope(silent) < 3 * slope(x)


def test_harden_gives_the_decoded_music_with_the_soft_rolls_gradient():
    cfg = MuseGANConfig(**{**SMALL.to_dict(), "output": "softmax"})
    torch.manual_seed(0)
    x = Generator(cfg)(*Inputs.sample(cfg, 3)).detach().requires_grad_(True)
    hard = harden(x, "softmax")
    torch.testing.assert_close(hard.abs(), torch.ones_like(hard))  # every cell -1 or +1
    assert np.array_equal(decode(hard.detach(), cfg), decode(x.detach(), cfg))
    (hard * torch.randn_like(hard)).sum().backward()  # straight through: the soft roll learns
    assert x.grad is not None and x.grad.abs().sum() > 0
    tanh = torch.tensor([[-0.9, 0.2, 0.7]])
    assert harden(tanh, "tanh").tolist() == [[-1.0, 1.0, 1.0]]


def test_the_line_critic_reads_each_voices_moves_and_spacing_alike_in_every_key():
    grid = np.array(chorale(16), dtype=np.int16)
    x = encode(grid[None], SMALL)
    torch.manual_seed(0)
    line = LineCritic(SMALL)
    f = line.features(x)[0]  # sounding (4), moves (4 x 26), spacing (3 x 38) rows per step
    sounding, moves, spacing = f[:4], f[4:108].reshape(4, 26, 16), f[108:].reshape(3, 38, 16)
    assert sounding[1, 15] == 0 and sounding[1, :15].all()  # the alto rests at step 15
    soprano = grid[:, 0].astype(int)
    for t in range(1, 16):  # one interval per step, -12..+12 from channel 0
        assert moves[0, :, t].argmax() - 12 == soprano[t] - soprano[t - 1]
        assert moves[0, :, t].sum() == 1
    assert not moves[:, :, 0].any()  # nothing moves into the first step
    assert spacing[0, :, 0].argmax() - 12 == grid[0, 0] - grid[0, 1]  # soprano above alto
    assert not spacing[0, :, 15].any()  # the alto rests
    torch.testing.assert_close(line(x.roll(3, dims=-1)), line(x))  # a key change reads alike
    leap = grid.copy()
    leap[8:, 0] = grid[8:, 0] - 12  # the soprano drops an octave half way
    assert not torch.allclose(line(encode(leap[None], SMALL)), line(x))
    assert line(x).shape == (1,)


def test_the_line_critics_r1_penalty_adds_its_slope_at_real_phrases():
    grid = np.array(chorale(16), dtype=np.int16)
    real = encode(grid[None], SMALL)
    torch.manual_seed(0)
    line = LineCritic(SMALL)
    fake = real.roll(1, dims=2)  # the bars swapped
    plain, penalised = train.line_loss(line, real, fake), train.line_loss(line, real, fake, 2.0)
    assert torch.isfinite(penalised) and penalised > plain
    x = real.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(line(x).sum(), x)
    torch.testing.assert_close(penalised - plain, grad.pow(2).sum(), rtol=1e-4, atol=1e-6)


def test_line_matching_pulls_the_generated_lines_towards_the_musics(chorales):
    grid = np.array(chorale(16), dtype=np.int16)
    target = train.line_statistics(grid[None], SMALL, "cpu")
    soprano_moves = target[4:30]  # per step: holds (0) and moves by -12..+12, then further
    assert soprano_moves[12] == pytest.approx(8 / 16)  # half its steps hold
    assert soprano_moves[14] == pytest.approx(5 / 16)  # C D E F G A B C: five whole tones up
    assert soprano_moves[13] == pytest.approx(2 / 16)  # and two semitones
    drift = drift_features(encode(grid[None], SMALL), 4)[0].reshape(4, 26, 16)
    soprano = grid[:, 0].astype(int)
    for t in range(4, 16):  # where the soprano is four steps later: -12..+12 from channel 0
        assert drift[0, :, t].argmax() - 12 == soprano[t] - soprano[t - 4]
    assert not drift[:, :, :4].any() and drift[3, 12, 4:].all()  # the bass holds its C
    harmony = harmony_features(encode(grid[None], SMALL))[0].reshape(6, 12, 16)
    assert harmony[2, :, 0].argmax() == 7 and harmony[2, :, 0].sum() == 1  # S G over B C: a fifth
    assert harmony[5, 0, 0] == 1  # tenor and bass on C: a unison (octaves folded)
    assert not harmony[[0, 3, 4], :, 15].any()  # the alto rests: none of its pairs sounds
    higher = np.where(grid >= 0, grid + 4, grid)
    torch.testing.assert_close(harmony_features(encode(higher[None], SMALL))[0],
                               harmony.flatten(0, 1))  # the same a third higher
    summary = train.line_summary(line_features(encode(grid[None], SMALL)), 4)[0]
    assert summary[[0, 4, 8], :].sum(1).tolist() == [8, 7, 0]  # soprano: holds, steps, leaps
    assert summary[12:16].sum(1).tolist() == [8, 0, 0, 0]  # the soprano's notes last 2 steps
    assert not summary[16:].any()  # no voices cross
    flicker = grid.copy()
    flicker[5, 3] = 50  # a sixteenth in the bass
    short = train.line_summary(line_features(encode(flicker[None], SMALL)), 4)[0, 15]
    assert short.tolist() == [0] * 5 + [1] + [0] * 10
    flicker[10:12, 3] = 52  # an eighth, then the C again for an eighth (12, 13)
    flicker[14:, 3] = 53  # and a note the phrase's end cuts to two steps
    short = train.line_summary(line_features(encode(flicker[None], SMALL)), 4)[0, 15]
    assert short.nonzero().flatten().tolist() == [5, 10, 12, 14]  # the C at 6-9 is qualified
    real = encode(grid[None], SMALL).repeat(2, 1, 1, 1, 1)
    distance, ratios = train.match_loss(real, target, "softmax", train.RATES)
    assert distance.item() == pytest.approx(0, abs=1e-9)
    assert sorted(ratios) == sorted(train.RATES) and not any(ratios.values())
    leap = grid.copy()
    leap[8:, 0] = grid[8:, 0] - 12  # the soprano drops an octave half way
    fake = encode(leap[None], SMALL).requires_grad_(True)
    loss, _ = train.match_loss(fake, target, "softmax")
    loss.backward()
    assert loss > 0 and fake.grad.abs().sum() > 0  # the generator learns from it


def test_rate_matching_weighs_a_rare_event_as_much_as_a_common_one(chorales):
    grid = np.array(chorale(16), dtype=np.int16)
    crossed = grid.copy()
    crossed[2, 1] = grid[2, 0] + 1  # the alto above the soprano for one step of sixteen
    target = train.line_statistics(crossed[None], SMALL, "cpu")
    where = train.summary_channels(4, len(target))
    assert target[where["crossed"]].tolist() == [1 / 16, 0, 0]  # S-A, A-T, T-B
    assert target[where["leap"]].tolist() == [0, 2 / 16, 0, 0]  # the alto leaps up and back
    assert target[where["hold"]][3] == pytest.approx(15 / 16)  # the bass holds its C
    twice = crossed.copy()
    twice[3, 1] = grid[3, 0] + 1  # it crosses for two steps: twice as often as the music
    fake = encode(twice[None], SMALL).requires_grad_(True)
    distance, ratios = train.match_loss(fake, target, "softmax", ("crossed", "leap"))
    log2 = np.log((2 / 16 + 1e-4) / (1 / 16 + 1e-4))
    assert ratios["crossed"].item() == pytest.approx(log2 ** 2)
    assert ratios["crossed"] > distance > 0  # the alto's moves and harmony changed too
    ratios["crossed"].backward()
    assert fake.grad.abs().sum() > 0
    assert list(train.match_loss(fake.detach(), target, "softmax")[1]) == []  # none asked for


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="'tanh' or 'softmax'"):
        MuseGANConfig(output="sigmoid")
    with pytest.raises(ValueError, match="multiple of 8"):
        MuseGANConfig(n_steps=12)
    with pytest.raises(ValueError, match="whole octaves"):
        MuseGANConfig(n_pitches=50)


# --- data -----------------------------------------------------------------------------------


def test_encode_decode_keeps_pitches_and_rests():
    grid = np.array(chorale(16), dtype=np.int16)[None]
    x = encode(grid, SMALL)
    assert x.shape == (1, 4, 2, 8, 36)
    assert set(x.unique().tolist()) == {-1.0, 1.0}
    back = decode(x, SMALL)
    np.testing.assert_array_equal(back, grid)
    assert (back[0, :, 1] == REST).sum() == 1  # the alto's rest is silence, not a note


def test_transposition_stays_in_range():
    rng = np.random.default_rng(0)
    grid = np.array([chorale(16)] * 50, dtype=np.int16)
    moved = transpose(grid, rng, SMALL.lowest_pitch, SMALL.n_pitches)
    notes = moved[moved != REST]
    assert notes.min() >= 48 and notes.max() < 84
    assert len({int(m[0, 3]) for m in moved}) > 1  # not always the same key
    assert ((moved == REST) == (grid == REST)).all()


def test_phrases_and_corpus(chorales, tmp_path):
    corpus = read_corpus(chorales)
    assert len(corpus.train) == 4 and corpus.train[0].shape == (64, 4)
    assert phrases(corpus.train, 16, 8).shape == (4 * 7, 16, 4)
    bad = tmp_path / "bad.json"
    bad.write_text('{"train": [[[60, 61]]]}')
    with pytest.raises(UserError, match="bad.json: not a chorales JSON"):
        read_corpus(bad)
    with pytest.raises(UserError, match="no such file"):
        read_corpus(tmp_path / "missing.json")


def test_corpus_from_a_folder_of_midi(tmp_path):
    for k in range(3):
        pm = pretty_midi.PrettyMIDI(initial_tempo=120)
        for v, base in enumerate((72, 67, 60, 48)):
            inst = pretty_midi.Instrument(52, name=f"v{v}")
            for i in range(8):
                inst.notes.append(pretty_midi.Note(90, base + k + i % 3, i * 0.5, i * 0.5 + 0.5))
            pm.instruments.append(inst)
        pm.write(str(tmp_path / f"piece{k}.mid"))
    (tmp_path / "broken.mid").write_bytes(b"MThd garbage")
    corpus = read_corpus(tmp_path)
    assert len(corpus.train) == 3 and "1 skipped" in corpus.description
    assert corpus.train[0].shape == (32, 4) and corpus.train[0][0].tolist() == [72, 67, 60, 48]


# --- training ---------------------------------------------------------------------------------


def train_values(chorales, steps: int, **kw) -> dict:
    return {"data": str(chorales), "model_id": "mine", "steps": steps, "steps_per_bar": 8,
            "pitches": 36, "lowest_pitch": 48, "batch_size": 4, "critic_steps": 2,
            "eval_interval": 2, **kw}


def test_train_registers_a_model_and_resumes_exactly(chorales, tmp_path, monkeypatch):
    monkeypatch.setattr(train, "EVAL_PHRASES", 16)
    a = ModelStore([tmp_path / "a"])
    events = run(TRAIN, train_values(chorales, 4), a, seed=3)
    previews = [e for e in events if isinstance(e, Preview)]
    assert [p.data["step"] for p in previews] == [2, 4]
    assert isinstance(previews[-1].data["score"], Score)
    assert np.isfinite(previews[-1].data["critic"]) and np.isfinite(previews[-1].data["generator"])
    card = a.get("mine")
    assert card.capability == "compose" and card.config["n_steps"] == 8
    assert card.quality["steps"] == 4 and "qualified_notes" in card.quality["metrics_real"]
    assert "compose.train" in card.command and "--seed 3" in card.command

    b = ModelStore([tmp_path / "b"])
    run(TRAIN, train_values(chorales, 2), b, seed=3)
    events = run(TRAIN, train_values(chorales, 4, resume=True), b, seed=99)
    assert any(isinstance(e, Log) and "resuming mine at step 2" in e.message for e in events)
    wa, wb = a.load("mine")[1], b.load("mine")[1]
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], msg=k)


def test_the_saved_generator_is_the_average_and_resume_takes_a_new_learning_rate(
        chorales, tmp_path, monkeypatch):
    monkeypatch.setattr(train, "EVAL_PHRASES", 16)
    store = ModelStore([tmp_path / "m"])
    run(TRAIN, train_values(chorales, 2, ema=0.5, output="softmax", critic_chroma=True), store,
        seed=3)
    state = read_checkpoint(Path(store.user_dir) / "mine" / train.STATE_DIR)
    shipped = store.load("mine")[1]
    key = "generator.chords_over_time.net.0.weight"
    trained, average = state["model"][key], state["average"][key[len("generator."):]]
    assert not torch.allclose(trained, average)
    torch.testing.assert_close(shipped[key].float(), average, atol=1e-3, rtol=1e-3)

    run(TRAIN, train_values(chorales, 4, ema=0.5, resume=True, lr=0.0), store, seed=3)
    after = read_checkpoint(Path(store.user_dir) / "mine" / train.STATE_DIR)
    assert after["step"] == 4
    card = store.get("mine")  # resumed without --output: the command still names the network
    assert card.config["output"] == "softmax" and "--output softmax" in card.command
    assert card.config["critic_chroma"] and "--critic-chroma" in card.command
    torch.testing.assert_close(after["model"][key], trained)  # lr 0: the weights stay

    run(TRAIN, train_values(chorales, 2, model_id="plain", ema=0.0), store, seed=3)
    state = read_checkpoint(Path(store.user_dir) / "plain" / train.STATE_DIR)
    assert "average" not in state
    torch.testing.assert_close(store.load("plain")[1][key].float(), state["model"][key],
                               atol=1e-3, rtol=1e-3)


def test_resume_with_critic_chroma_adds_the_stream_to_the_trained_critic(chorales, tmp_path,
                                                                        monkeypatch):
    monkeypatch.setattr(train, "EVAL_PHRASES", 16)
    store = ModelStore([tmp_path / "m"])
    run(TRAIN, train_values(chorales, 2, output="softmax"), store, seed=3)
    before = read_checkpoint(Path(store.user_dir) / "mine" / train.STATE_DIR)
    assert not any(k.startswith("critic.chroma.") for k in before["model"])
    events = run(TRAIN, train_values(chorales, 4, output="softmax", resume=True,
                                     critic_chroma=True), store, seed=3)
    assert any(isinstance(e, Log) and "the critic gains a chroma stream" in e.message
               for e in events)
    after = read_checkpoint(Path(store.user_dir) / "mine" / train.STATE_DIR)
    assert after["step"] == 4 and store.get("mine").config["critic_chroma"]
    assert after["model"]["critic.chroma.out.weight"].abs().sum() > 0  # it has learned
    assert len(after["groups_c"][0]["params"]) == len(before["groups_c"][0]["params"]) + 8
    run(TRAIN, train_values(chorales, 5, output="softmax", resume=True), store, seed=3)
    assert store.get("mine").config["critic_chroma"]  # resumed without the flag: it stays


def test_start_from_fine_tunes_another_models_weights(chorales, tmp_path, monkeypatch):
    monkeypatch.setattr(train, "EVAL_PHRASES", 16)
    store = ModelStore([tmp_path / "m"])
    run(TRAIN, train_values(chorales, 2, model_id="base", output="softmax"), store, seed=3)
    base = store.load("base")[1]
    # its shape flags differ from the base model's: the base model's network is the one trained
    events = run(TRAIN, train_values(chorales, 2, model_id="ft", start_from="base", lr=0.0,
                                     steps_per_bar=16, critic_chroma=True), store, seed=4)
    assert any(isinstance(e, Log) and "starting from the weights of base" in e.message
               for e in events)
    card = store.get("ft")
    assert card.config["n_steps"] == 8 and card.config["output"] == "softmax"
    assert card.config["critic_chroma"] and "--start-from base" in card.command
    assert "began with the weights of base" in card.description
    assert "it began with base, whose licence applies too" in card.licence
    tuned = store.load("ft")[1]
    # lr 0: the weights are the base model's (batch-norm statistics are measured afresh)
    for k in (k for k in base if "running_" not in k and "num_batches" not in k):
        torch.testing.assert_close(tuned[k], base[k], msg=k)
    assert any(k.startswith("critic.chroma.") for k in tuned)

    run(TRAIN, train_values(chorales, 3, model_id="ft", resume=True), store, seed=4)
    assert "--start-from base" in store.get("ft").command  # a resumed run still says so

    with pytest.raises(Exception, match="nothing"):
        run(TRAIN, train_values(chorales, 2, model_id="x", start_from="nothing"), store)


def test_streams_join_a_trained_critic_in_any_order_keeping_its_optimizer_moments(
        chorales, tmp_path, monkeypatch):
    monkeypatch.setattr(train, "EVAL_PHRASES", 16)
    store = ModelStore([tmp_path / "m"])
    state_dir = Path(store.user_dir) / "mine" / train.STATE_DIR
    run(TRAIN, train_values(chorales, 2, output="softmax", critic_contour=True), store, seed=3)
    before = read_checkpoint(state_dir)
    # the chroma stream's parameters come before the contour stream's in the critic
    events = run(TRAIN, train_values(chorales, 3, resume=True, critic_chroma=True), store,
                 seed=3)
    assert any(isinstance(e, Log) and "the critic gains a chroma stream" in e.message
               for e in events)
    after = read_checkpoint(state_dir)
    config = store.get("mine").config
    assert after["step"] == 3 and config["critic_chroma"] and config["critic_contour"]
    critic = Critic(MuseGANConfig.from_dict(config))
    names = [n for n, _ in critic.named_parameters()]
    assert len(after["groups_c"][0]["params"]) == len(names)
    moved, groups = train.widen_optimizer(before["opt_c"], before["groups_c"], critic,
                                          ("chroma",))
    old = [n for n in names if not n.startswith("chroma.")]
    for i, name in enumerate(old):  # each known parameter's moments follow it to its place
        torch.testing.assert_close(moved[f"{names.index(name)}.exp_avg"],
                                   before["opt_c"][f"{i}.exp_avg"], msg=name)
    assert groups[0]["params"] == list(range(len(names)))
    assert not any(k.startswith(f"{names.index('chroma.out.weight')}.") for k in moved)


def test_the_line_critic_trains_beside_the_critic_and_resumes(chorales, tmp_path, monkeypatch):
    monkeypatch.setattr(train, "EVAL_PHRASES", 16)
    store = ModelStore([tmp_path / "m"])
    state_dir = Path(store.user_dir) / "mine" / train.STATE_DIR
    events = run(TRAIN, train_values(chorales, 2, output="softmax", line_weight=0.5), store,
                 seed=3)
    assert any(isinstance(e, Log) and "line critic" in e.message for e in events)
    first = read_checkpoint(state_dir)
    assert np.isfinite(first["history"][-1]["line"])
    run(TRAIN, train_values(chorales, 4, resume=True, line_weight=0.5, line_r1=1.0), store,
        seed=3)
    after = read_checkpoint(state_dir)
    key = "out.weight"
    assert not torch.allclose(first["line"][key], after["line"][key])  # it went on learning
    assert "--line-weight 0.5 --line-r1 1.0" in store.get("mine").command
    assert not any(k.startswith("line.") for k in store.load("mine")[1])  # training only


def test_line_matching_trains_and_is_charted(chorales, tmp_path, monkeypatch):
    monkeypatch.setattr(train, "EVAL_PHRASES", 16)
    store = ModelStore([tmp_path / "m"])
    events = run(TRAIN, train_values(chorales, 2, output="softmax", match_weight=5.0), store)
    assert any(isinstance(e, Log) and "line mismatch" in e.message for e in events)
    point = read_checkpoint(Path(store.user_dir) / "mine" / train.STATE_DIR)["history"][-1]
    assert point["match"] > 0
    assert "--match-weight 5.0" in store.get("mine").command
    events = run(TRAIN, train_values(chorales, 2, output="softmax", crossing_weight=3.0,
                                     motion_weight=2.0, model_id="crossed"), store)
    assert any(isinstance(e, Log) and "crossing mismatch" in e.message
               and "motion mismatch" in e.message for e in events)
    assert "--crossing-weight 3.0 --motion-weight 2.0" in store.get("crossed").command


def test_keys_c_trains_on_every_piece_moved_to_c_major_or_a_minor(chorales, tmp_path,
                                                                 monkeypatch):
    from studio_compose.data import in_one_key
    from studio_compose.keys import Key, estimate_key

    d_major = np.array(chorale(32, 2), dtype=np.int16)  # the C major scale moved up a tone
    moved = in_one_key([d_major, np.full((4, 4), REST, dtype=np.int16)])
    assert estimate_key(d_major) == Key(2, False) and estimate_key(moved[0]) == Key(0, False)
    assert (moved[0][d_major != REST] == d_major[d_major != REST] - 2).all()
    assert (moved[0][d_major == REST] == REST).all() and (moved[1] == REST).all()
    high = np.where(d_major != REST, d_major + 24, REST)  # a tone down keeps it in the rows
    assert (in_one_key([high], 72, 36)[0][high != REST] == high[high != REST] - 2).all()
    low = np.where(d_major != REST, d_major - 12, REST)  # its lowest note on the lowest row:
    # a tone down would leave the rows, so it goes up a seventh instead
    assert (in_one_key([low], int(low[low != REST].min()), 48)[0][low != REST]
            == low[low != REST] + 10).all()
    e_minor = np.array([[64, 59, 55, 40], [66, 59, 54, 47], [67, 60, 52, 48],
                        [71, 62, 55, 43]] * 4, dtype=np.int16)
    assert estimate_key(in_one_key([e_minor])[0]) == Key(9, True)

    monkeypatch.setattr(train, "EVAL_PHRASES", 16)
    store = ModelStore([tmp_path / "m"])
    def no_transposing(*args):
        raise AssertionError("--keys c moves no phrase at random")

    monkeypatch.setattr("studio_compose.data.transpose", no_transposing)
    run(TRAIN, train_values(chorales, 2, keys="c"), store, seed=3)
    assert "--keys c" in store.get("mine").command
    events = run(TRAIN, train_values(chorales, 3, resume=True), store, seed=3)
    assert any(isinstance(e, Log) and "it trains with --keys c" in e.message for e in events)
    assert "--keys c" in store.get("mine").command  # the resumed run kept its keys


def test_a_linear_schedule_takes_the_learning_rate_down_to_zero(chorales, tmp_path,
                                                                 monkeypatch):
    monkeypatch.setattr(train, "EVAL_PHRASES", 16)
    store = ModelStore([tmp_path / "m"])
    run(TRAIN, train_values(chorales, 4, lr=1e-3, lr_schedule="linear"), store, seed=3)
    state = read_checkpoint(Path(store.user_dir) / "mine" / train.STATE_DIR)
    # the last step (the fourth of four) ran at a quarter of the rate
    assert state["groups_g"][0]["lr"] == pytest.approx(2.5e-4)
    assert state["groups_c"][0]["lr"] == pytest.approx(2.5e-4)
    run(TRAIN, train_values(chorales, 8, lr=1e-3, critic_lr=4e-3, lr_schedule="linear",
                            resume=True), store, seed=3)  # a faster critic
    state = read_checkpoint(Path(store.user_dir) / "mine" / train.STATE_DIR)
    assert state["groups_g"][0]["lr"] == pytest.approx(1.25e-4)
    assert state["groups_c"][0]["lr"] == pytest.approx(5e-4)
    assert "--critic-lr 0.004" in store.get("mine").command


def test_train_refuses_bad_data(tmp_path):
    (tmp_path / "notes.txt").write_text("no music here")
    with pytest.raises(TaskFailed, match="no readable MIDI or MusicXML file in"):
        run(TRAIN, {"data": str(tmp_path)}, ModelStore([tmp_path / "models"]))
    with pytest.raises(TaskFailed, match="notes.txt: give the chorales .json"):
        run(TRAIN, {"data": str(tmp_path / "notes.txt")}, ModelStore([tmp_path / "models"]))


# --- generation -------------------------------------------------------------------------------


def generate(store, seed: int = 1, **values) -> tuple[Score, dict, bytes, bytes]:
    events = run(GENERATE, {"model": "tiny", "bars": 4, **values}, store, seed=seed)
    preview = next(e for e in events if isinstance(e, Preview)).data
    files = {e.suffix: e.data for e in events if isinstance(e, Output)}
    return preview["score"], preview["seeds"], files[".mid"], files.get(".wav", b"")


def voice_grid(score: Score, voice: int) -> list[int]:
    return score.to_grid()[:, voice].tolist()


def test_generate_writes_midi_and_wav_with_real_durations(store):
    score, _, midi, wav = generate(store, bars=5, tempo=120)
    assert score.n_steps == 5 * 8 and score.voices == ["soprano", "alto", "tenor", "bass"]
    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi))
    assert len(pm.instruments) == 4
    assert pm.instruments[0].program == 52  # choir by default
    step = 60 / 120 / 2  # 8 steps per bar of 4 beats: an eighth note per step
    mine = sorted((n.start, n.voice, n.length) for n in score.notes)
    theirs = sorted((round(n.start / step), v, round((n.end - n.start) / step))
                    for v, inst in enumerate(pm.instruments) for n in inst.notes)
    assert mine == theirs
    with wave.open(io.BytesIO(wav)) as w:
        seconds = w.getnframes() / w.getframerate()
    assert score.duration <= seconds <= score.duration + 2


def test_same_seed_same_music_and_rerolls_hold_the_rest(store):
    base, seeds, midi, _ = generate(store, wav=False)
    again, _, midi2, _ = generate(store, wav=False)
    assert midi == midi2
    tenor, tenor_seeds, _, _ = generate(store, wav=False, melody=",,7,")
    assert tenor_seeds["melody"][2] == 7 and tenor_seeds["chords"] == seeds["chords"]
    for v in (0, 1, 3):
        assert voice_grid(tenor, v) == voice_grid(base, v)
    assert voice_grid(tenor, 2) != voice_grid(base, 2)
    chords, _, _, _ = generate(store, wav=False, chords=12345)
    assert sum(voice_grid(chords, v) != voice_grid(base, v) for v in range(4)) >= 2


def test_the_key_is_estimated_and_a_piece_moves_to_the_tonic_asked_for(store):
    from studio_compose.keys import Key, estimate_key, shift_to, tonic_number

    c_major = np.array([60, 64, 67, 72, 60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60, 60])
    assert estimate_key(c_major) == Key(0, False)
    a_minor = np.array([57, 60, 64, 57, 59, 60, 62, 64, 65, 68, 69, 64, 57, 57, -1, 57])
    assert str(estimate_key(a_minor)) == "A minor"
    assert estimate_key(np.full(8, REST)) is None
    assert estimate_key(np.arange(60, 72)) is None  # all twelve alike: no key to move from
    assert Key.parse("Eb minor") == Key(3, True) and Key(9, True).moved(5) == Key(2, True)
    assert shift_to(Key(9, True), tonic_number("D")) == 5  # A to D: up a fourth
    assert shift_to(Key(2, False), tonic_number("a")) == -5  # D to A: down a fourth
    with pytest.raises(ValueError, match="unknown key 'H'"):
        tonic_number("H")

    events = run(GENERATE, {"model": "tiny", "bars": 4, "wav": False}, store, seed=1)
    auto = next(e for e in events if isinstance(e, Preview)).data
    events = run(GENERATE, {"model": "tiny", "bars": 4, "wav": False, "key": "F#"}, store, seed=1)
    moved = next(e for e in events if isinstance(e, Preview)).data
    assert moved["key"].startswith("F# ") and moved["key"].split()[1] == auto["key"].split()[1]
    assert any("bars in F# " in e.message for e in events if isinstance(e, Log))
    a, b = auto["score"].to_grid(), moved["score"].to_grid()
    shift = shift_to(estimate_key(a), 6)
    assert (b == np.where(a >= 0, a + shift, a)).all()  # the same piece, every note moved
    assert str(estimate_key(b)) == moved["key"] and moved["shift"] == shift
    assert moved["written"] == auto["key"] == str(estimate_key(a))
    events = run(GENERATE, {"model": "tiny", "bars": 4, "wav": False, "transpose": -3}, store,
                 seed=1)
    down = next(e for e in events if isinstance(e, Preview)).data
    assert (down["score"].to_grid() == np.where(a >= 0, a - 3, a)).all()
    with pytest.raises(ValueError, match="--key: 'H' is not one of auto, C, C#"):
        run(GENERATE, {"model": "tiny", "key": "H"}, store)


def test_a_one_key_models_pieces_take_their_key_from_the_chords_seed(store, tmp_path):
    from studio_compose.tasks import one_key_shift

    torch.manual_seed(0)
    write_model_folder(tmp_path / "onekey", Generator(SMALL), Critic(SMALL), SMALL, keys="c",
                       licence="test")
    both = ModelStore([*store.roots, tmp_path])
    assert both.get("onekey").config["keys"] == "c"
    assert both.get("tiny").config["keys"] == "all"
    moves = set()
    for chords in (5, 6, 7):
        plain = generate(store, wav=False, chords=chords)[0].to_grid()
        events = run(GENERATE, {"model": "onekey", "bars": 4, "wav": False, "chords": chords},
                     both, seed=1)
        moved = next(e for e in events if isinstance(e, Preview)).data["score"].to_grid()
        shift = one_key_shift(chords)
        assert (moved == np.where(plain >= 0, plain + shift, plain)).all()
        moves.add(shift)
    assert len(moves) == 3  # another chords seed, another key
    # a melody re-roll keeps the key its version took
    events = run(GENERATE, {"model": "onekey", "bars": 4, "wav": False, "chords": 5,
                            "melody": "9,,,"}, both, seed=1)
    plain = generate(store, wav=False, chords=5, melody="9,,,")[0].to_grid()
    grid = next(e for e in events if isinstance(e, Preview)).data["score"].to_grid()
    assert (grid == np.where(plain >= 0, plain + one_key_shift(5), plain)).all()


def test_morph_starts_at_one_seed_and_ends_at_the_other(store):
    a, _, _, _ = generate(store, seed=1, wav=False, bars=6, variation=0.0)
    b, _, _, _ = generate(store, seed=2, wav=False, bars=6, variation=0.0)
    morph, _, _, _ = generate(store, seed=1, wav=False, bars=6, variation=0.0, to_seed=2)
    ga, gb, gm = a.to_grid(), b.to_grid(), morph.to_grid()
    np.testing.assert_array_equal(gm[:16], ga[:16])
    np.testing.assert_array_equal(gm[-16:], gb[-16:])


def test_instruments_and_bad_values(store):
    score, _, _, _ = generate(store, wav=False, instruments="organ,,strings,42")
    assert score.programs == [19, 52, 48, 42]
    assert parse_instruments("piano", 4) == [0] * 4
    with pytest.raises(ValueError, match="unknown instrument 'kazoo'"):
        parse_instruments("kazoo", 4)
    with pytest.raises(TaskFailed, match="--melody 'a,b': seeds are whole numbers"):
        generate(store, melody="a,b")
    with pytest.raises(TaskFailed, match="5 seeds for 4 voices"):
        generate(store, groove="1,2,3,4,5")


def test_render_mutes_and_solos(store, tmp_path):
    score, _, midi, _ = generate(store, wav=False)
    path = tmp_path / "piece.mid"
    path.write_bytes(midi)

    def frames(**kw) -> np.ndarray:
        events = run(RENDER, {"file": str(path), **kw})
        wav = next(e for e in events if isinstance(e, Output)).data
        with wave.open(io.BytesIO(wav)) as w:
            return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)

    everything, solo, muted = frames(), frames(solo="0"), frames(mute="0,1,2,3")
    assert np.abs(everything).max() > 1000 and np.abs(solo).max() > 1000
    assert not np.array_equal(everything, solo)
    assert np.abs(muted).max() == 0
    with pytest.raises(TaskFailed, match="--mute '9'"):
        frames(mute="9")
    (tmp_path / "bad.mid").write_bytes(b"not midi at all")
    with pytest.raises(TaskFailed, match="bad.mid"):
        run(RENDER, {"file": str(tmp_path / "bad.mid")})


def test_metrics_task_prints_a_side_by_side_table(store, chorales):
    events = run(METRICS, {"data": str(chorales), "model": "tiny", "phrases": 20}, store)
    table = next(e for e in events if isinstance(e, Output)).data
    assert table.startswith("| metric | real (2 phrases) | tiny (20 phrases) |")
    for name in ("empty_bars", "pitch_classes", "qualified_notes", "tonal_distance",
                 "pitch_range", "voice_crossing"):
        assert f"| {name} |" in table


def test_metrics_on_the_held_out_test_split(store, chorales, tmp_path):
    with pytest.raises(TaskFailed, match="chorales.json has no test split; use --split valid"):
        run(METRICS, {"data": str(chorales), "model": "tiny", "split": "test"}, store)
    doc = json.loads(chorales.read_text())
    doc["test"] = [chorale(96, 1)]
    (tmp_path / "with_test.json").write_text(json.dumps(doc))
    events = run(METRICS, {"data": str(tmp_path / "with_test.json"), "model": "tiny",
                           "phrases": 20, "split": "test"}, store)
    table = next(e for e in events if isinstance(e, Output)).data
    assert table.startswith("| metric | real (6 phrases) | tiny (20 phrases) |")
    counts = {}
    for split in ("train", "all"):  # 4 training chorales of 4 phrases, 1 of 2, 1 of 6
        events = run(METRICS, {"data": str(tmp_path / "with_test.json"), "model": "tiny",
                               "phrases": 4, "split": split}, store)
        table = next(e for e in events if isinstance(e, Output)).data
        counts[split] = int(table.split("real (")[1].split()[0])
    assert counts == {"train": 16, "all": 24}


def test_the_starter_model_composes_eight_bars_for_four_voices():
    from studio import paths

    store = ModelStore([paths.shipped_models_dir()])
    assert store.verify("compose.chorales") == []  # the shipped weights match their card
    score, _, midi, _ = generate(store, model="compose.chorales", bars=8, wav=False)
    assert score.n_steps == 8 * 16 and len(score.voices) == 4
    means = [np.mean([n.pitch for n in score.voice_notes(v)]) for v in range(4)]
    assert all(30 <= m <= 90 for m in means)
    assert means[0] > means[3] + 7  # the soprano sings above the bass
    pm = pretty_midi.PrettyMIDI(io.BytesIO(midi))
    assert [len(i.notes) for i in pm.instruments] == [len(score.voice_notes(v)) for v in range(4)]
    assert abs(pm.get_end_time() - score.duration) < score.seconds_per_step * 16
