"""The drive plugin's world model: V, M and C (their published sizes, shapes and maths), the
frame preprocessing, the dream environment, drive models in the store (loading and the errors
of a missing or mismatched part), and training V and M as tasks (a few steps, resumable, the
loss falling). Tiny models and hand-made rollouts only."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gymnasium.utils.env_checker import check_env

from studio import device as devices
from studio.errors import UserError
from studio.execution import Execution, TaskFailed
from studio.models import ModelStore
from studio.tasks import Context, Log, Preview
from studio.training import read_checkpoint
from studio_drive import loading, train_vae
from studio_drive.controller import Controller
from studio_drive.dream import DreamEnv, DreamVecEnv
from studio_drive.frames import to_image, to_input, to_tensor
from studio_drive.mdnrnn import MDNRNN
from studio_drive.rollouts import rollout_files, rollout_name, write_rollout
from studio_drive.train_rnn import CACHE_DIR, TRAIN_RNN
from studio_drive.train_rnn import STATE_DIR as RNN_STATE
from studio_drive.train_vae import STATE_DIR as VAE_STATE
from studio_drive.train_vae import TRAIN_VAE
from studio_drive.vae import VAE, loss, parameter_count

CPU = devices.pick("cpu")
TINY = {"z_size": 4, "hidden": 16, "gaussians": 2, "actions": 3}


def run(task, values: dict, store: ModelStore | None = None, seed: int = 0) -> list:
    events: list = []
    Execution(task, task.make_params(values), CPU, seed=seed, models=store).run(
        lambda e, s: events.append(e), lambda: False)
    return events


def fails(task, values: dict, store: ModelStore | None = None) -> str:
    with pytest.raises(TaskFailed) as err:
        run(task, values, store)
    assert err.value.bad_input and "\n" not in str(err.value)
    return str(err.value)


def warnings_in(events: list) -> list[str]:
    return [e.message for e in events if isinstance(e, Log) and e.level == "warning"]


@pytest.fixture(autouse=True)
def few_frames(monkeypatch):
    """V measured on 16 held-out frames, not 256."""
    monkeypatch.setattr(train_vae, "VALID_FRAMES", 16)


@pytest.fixture(scope="module")
def rollouts(tmp_path_factory) -> Path:
    """Three 24-step episodes of a drawn 'road' (a grey band on green) that drifts with the
    steering, with rewards of twice the steering and an end."""
    folder = tmp_path_factory.mktemp("rollouts")
    rng = np.random.default_rng(0)
    for i in range(3):
        n = 24
        steer = np.cumsum(rng.normal(0, 0.3, n)).clip(-1, 1)
        frames = np.zeros((n, 64, 64, 3), np.uint8)
        frames[..., 1] = 160
        for t in range(n):
            x = int(32 + 20 * steer[t])
            frames[t, :, max(0, x - 8):x + 8] = (100, 100, 100)
        actions = np.stack([steer, np.full(n, 0.5), np.zeros(n)], 1).astype(np.float32)
        rewards = (2 * steer).astype(np.float32)  # M can learn it from the action
        dones = np.arange(n) == n - 1
        write_rollout(folder, i, frames, actions, rewards, dones, seed=i, policy="test")
    return folder


def store_at(path: Path) -> ModelStore:
    return ModelStore([path])


def ctx_for(store: ModelStore) -> Context:
    return Context(device="cpu", models=store)


# --- V, M, C and the frames -------------------------------------------------------------------


def test_vae_has_the_papers_layout_and_size():
    vae = VAE()
    assert parameter_count(vae) == 4_348_547  # FACTS: the paper's count at z = 32
    x = torch.rand(3, 3, 64, 64)
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (3, 32)
    recon, mu2, _ = vae(x)
    assert recon.shape == (3, 3, 64, 64) and recon.min() >= 0 and recon.max() <= 1
    torch.testing.assert_close(mu, mu2)
    # the first deconvolution, run as a matrix product, is the transposed convolution
    z = torch.randn(2, 32)
    h = F.relu(vae.decoder[0](vae.lift(z).view(-1, 1024, 1, 1)))
    for i, deconv in enumerate(vae.decoder[1:], 1):
        h = deconv(h)
        h = torch.sigmoid(h) if i == 3 else F.relu(h)
    torch.testing.assert_close(vae.decode(z), h)


def test_vae_loss_floors_the_kl_at_the_tolerance():
    x = torch.full((2, 3, 64, 64), 0.5)
    zeros = torch.zeros(2, 32)
    total, recon, kl = loss(torch.full_like(x, 0.25), x, zeros, zeros, kl_tolerance=0.5)
    assert recon.item() == pytest.approx(64 * 64 * 3 * 0.0625)
    assert kl.item() == 0 and total.item() == pytest.approx(recon.item() + 16)  # 0.5 * 32
    _, _, kl = loss(x, x, torch.ones(2, 32), zeros)
    assert kl.item() == pytest.approx(16)  # 0.5 * mu^2 per dimension


def test_mdnrnn_has_the_papers_size_and_heads():
    m = MDNRNN()
    # FACTS: 422,368, plus PyTorch's second LSTM bias (1,024) and the reward and done heads
    assert parameter_count(m) == 422_368 + 1_024 + 2 * 257
    assert m.mdn.out_features == 480  # 3 x 5 Gaussians x 32 dimensions
    out = m(torch.randn(2, 7, 32), torch.rand(2, 7, 3))
    assert out.logpi.shape == out.mu.shape == out.logsigma.shape == (2, 7, 32, 5)
    assert out.reward.shape == out.done_logit.shape == (2, 7) and out.h.shape == (2, 256)
    torch.testing.assert_close(out.logpi.exp().sum(-1), torch.ones(2, 7, 32))
    assert torch.sigmoid(out.done_logit).max() < 0.05  # a fresh M expects no end


def test_mdnrnn_step_is_the_sequence_one_step_at_a_time():
    torch.manual_seed(0)
    m = MDNRNN(**TINY)
    z, a = torch.randn(3, 5, 4), torch.rand(3, 5, 3)
    whole = m(z, a)
    state = m.initial_state(3)
    for t in range(5):
        out = m.step(z[:, t], a[:, t], state)
        state = out.state
        torch.testing.assert_close(out.mu, whole.mu[:, t])
        torch.testing.assert_close(out.reward, whole.reward[:, t])
    torch.testing.assert_close(state[0], whole.state[0])


def test_mdnrnn_loss_is_the_mixtures_likelihood():
    torch.manual_seed(0)
    m = MDNRNN(**TINY)
    z, a = torch.randn(2, 3, 4), torch.rand(2, 3, 3)
    out = m(z, a)
    target = torch.randn(2, 3, 4)
    reward, done = torch.randn(2, 3), torch.tensor([[0.0, 0, 1], [0, 0, 0]])
    losses = MDNRNN.loss(out, target, reward, done)
    mix = torch.distributions.MixtureSameFamily(
        torch.distributions.Categorical(logits=out.logpi),
        torch.distributions.Normal(out.mu, out.logsigma.exp()))
    torch.testing.assert_close(losses.nll, -mix.log_prob(target).mean())
    torch.testing.assert_close(losses.reward, F.mse_loss(out.reward, reward))
    torch.testing.assert_close(losses.done, F.binary_cross_entropy_with_logits(
        out.done_logit, done))
    # masked steps count for nothing; a step without a next frame only for its reward and end
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]], dtype=torch.bool)
    nxt = torch.tensor([[1, 0, 0], [1, 0, 0]], dtype=torch.bool)
    masked = MDNRNN.loss(out, target, reward, done, mask, nxt)
    keep = mask.flatten()
    torch.testing.assert_close(masked.reward, F.mse_loss(out.reward.flatten()[keep],
                                                         reward.flatten()[keep]))
    both = nxt.flatten()
    per_step = -mix.log_prob(target).mean(-1).flatten()
    torch.testing.assert_close(masked.nll, per_step[both].mean())


def test_sampling_at_temperature():
    z = 4
    logpi = torch.log(torch.tensor([0.9, 0.1])).expand(20_000, z, 2)
    mu = torch.tensor([1.0, -3.0]).expand(20_000, z, 2)
    logsigma = torch.log(torch.tensor([0.5, 0.5])).expand(20_000, z, 2)
    out = (logpi, mu, logsigma, None, None, None)
    from studio_drive.mdnrnn import MDNOutput

    out = MDNOutput(*out)
    g = torch.Generator().manual_seed(0)
    s = MDNRNN.sample_next(out, 1.0, g)
    assert s.shape == (20_000, z)
    assert (s < -1).float().mean().item() == pytest.approx(0.1, abs=0.01)
    near = s[s > -1]
    assert near.std().item() == pytest.approx(0.5, abs=0.02)
    hot = MDNRNN.sample_next(out, 2.0, g)  # tau 2: flatter weights, wider Gaussians
    p_rare = 0.1 ** 0.5 / (0.1 ** 0.5 + 0.9 ** 0.5)
    assert (hot < -1).float().mean().item() == pytest.approx(p_rare, abs=0.015)
    assert hot[hot > -1].std().item() == pytest.approx(0.5 * math.sqrt(2), abs=0.03)
    torch.testing.assert_close(MDNRNN.sample_next(out, 0.0), torch.ones(20_000, z))


def test_controller_has_the_papers_size_and_squashing():
    c = Controller()
    assert c.n_params == 867
    v = np.random.default_rng(0).normal(size=867).astype(np.float32)
    c = Controller.from_flat(v)
    np.testing.assert_array_equal(c.to_flat(), v)
    z, h = torch.randn(5, 32), torch.randn(5, 256)
    raw = torch.cat([z, h], 1) @ torch.from_numpy(v[:864].reshape(3, 288)).T + torch.from_numpy(
        v[864:])
    a = c.act(z, h)
    t = torch.tanh(raw)
    torch.testing.assert_close(a[:, 0], t[:, 0])
    torch.testing.assert_close(a[:, 1], (t[:, 1] + 1) / 2)
    torch.testing.assert_close(a[:, 2], t[:, 2].clamp(0, 1))
    again = Controller.from_tensors(c.as_tensors())
    assert sorted(c.as_tensors()) == ["controller.bias", "controller.weight"]
    torch.testing.assert_close(again.act(z, h), a)
    with pytest.raises(ValueError, match="takes 867 parameters"):
        Controller.from_flat(np.zeros(10))


def test_frames_are_cropped_above_the_dashboard_and_resized():
    obs = np.random.default_rng(0).integers(0, 255, (96, 96, 3), dtype=np.uint8)
    x = to_input(obs)
    assert x.shape == (64, 64, 3) and x.dtype == np.uint8
    other = obs.copy()
    other[84:] = 0  # the dashboard does not reach the input
    np.testing.assert_array_equal(to_input(other), x)
    batch = to_input(np.stack([obs, other, obs]))
    assert batch.shape == (3, 64, 64, 3)
    np.testing.assert_array_equal(batch[2], x)
    t = to_tensor(batch)
    assert t.shape == (3, 3, 64, 64) and t.dtype == torch.float32
    assert t.is_contiguous(memory_format=torch.channels_last) and t.max() <= 1
    np.testing.assert_array_equal(to_image(t), batch)
    with pytest.raises(ValueError, match="expected a CarRacing frame"):
        to_input(np.zeros((10, 10)))


# --- the dream --------------------------------------------------------------------------------


def tiny_world(done_bias: float | None = None) -> tuple[VAE, MDNRNN]:
    torch.manual_seed(0)
    vae, m = VAE(TINY["z_size"]), MDNRNN(**TINY)
    if done_bias is not None:
        with torch.no_grad():
            m.done.weight.zero_()
            m.done.bias.fill_(done_bias)
    return vae.eval(), m.eval()


@pytest.mark.parametrize("observation", ["frame", "latent", "latent_hidden"])
def test_the_dream_is_a_gymnasium_env(observation):
    env = DreamEnv(*tiny_world(), observation=observation, max_steps=6)
    if observation == "latent_hidden":  # gymnasium's own checks (the others differ in shape)
        check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    width = {"frame": None, "latent": 4, "latent_hidden": 20}[observation]
    assert obs.shape == ((64, 64, 3) if width is None else (width,))
    for _ in range(6):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        assert isinstance(reward, float) and not terminated
    assert truncated  # cut at max_steps


def test_dreams_start_from_a_real_frame_and_follow_the_temperature():
    vae, m = tiny_world()
    frame = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    env = DreamEnv(vae, m, observation="latent", tau=0.0, precision="fp32")
    obs, _ = env.reset(options={"frames": frame})
    with torch.no_grad():
        mu, _ = vae.encode(to_tensor(frame))
    np.testing.assert_allclose(obs, mu[0].numpy(), rtol=1e-5, atol=1e-6)
    action = np.array([0.2, 0.5, 0.0], np.float32)
    cold = [env.step(action)[0] for _ in range(3)]
    env.reset(options={"frames": frame})
    np.testing.assert_array_equal([env.step(action)[0] for _ in range(3)][-1], cold[-1])
    env.tau = 1.5  # changed while running: the dream now wanders
    env.reset(options={"frames": frame})
    assert not np.allclose(env.step(action)[0], cold[0])
    with pytest.raises(ValueError, match="tau"):
        env.tau = -1


def test_the_vector_dream_steps_in_lockstep_and_restarts_the_next_step():
    vae, m = tiny_world(done_bias=10.0)  # M says every step ends the episode
    starts = np.random.default_rng(1).normal(size=(5, 4)).astype(np.float32)
    envs = DreamVecEnv(vae, m, num_envs=3, observation="latent_hidden", starts=starts)
    obs, _ = envs.reset(seed=0)
    assert obs.shape == (3, 20) and envs.observation_space.contains(obs)
    assert all(any(np.allclose(o[:4], s) for s in starts) for o in obs)  # begun from starts
    np.testing.assert_array_equal(obs[:, 4:], 0)  # h before the first step
    _, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
    assert terminated.all() and not truncated.any() and info["done_probability"].min() > 0.99
    obs, reward, terminated, _, _ = envs.step(envs.action_space.sample())
    assert not terminated.any() and (reward == 0).all()  # next-step autoreset
    np.testing.assert_array_equal(obs[:, 4:], 0)
    assert envs.z.shape == (3, 4) and envs.h.shape == (3, 16)


# --- drive models in the store ----------------------------------------------------------------


def save_tiny(root: Path, model_id: str, parts=("vae", "mdnrnn"), config=TINY, vae_z=None):
    torch.manual_seed(0)
    vae = VAE(vae_z or config["z_size"])
    record = {"command": f"make {model_id}", "steps": 1}
    loading.save_part(root, model_id, "vae", vae.state_dict(), config, record)
    if "mdnrnn" in parts:
        m = MDNRNN(config["z_size"], config["actions"], config["hidden"], config["gaussians"])
        loading.save_part(root, model_id, "mdnrnn", m.state_dict(), config, record)
    if "controller" in parts:
        c = Controller(config["z_size"], config["hidden"])
        c.bias += 0.5
        loading.save_part(root, model_id, "controller",
                          {"weight": c.weight, "bias": c.bias}, config, record)


def test_a_drive_model_loads_its_parts(tmp_path):
    save_tiny(tmp_path, "full", parts=("vae", "mdnrnn", "controller"))
    store = store_at(tmp_path)
    card, vae, m, c = loading.load_world_model(ctx_for(store), "full")
    assert card.capability == "drive" and card.architecture == "world-models"
    assert card.config == TINY and vae.z_size == 4 and m.hidden == 16
    assert c is not None and c.n_params == 3 * 20 + 3 and c.bias.tolist() == [0.5] * 3
    assert card.command == "make full && make full && make full"
    assert sorted(card.quality) == ["controller", "mdnrnn", "vae"]
    weights = ctx_for(store).load_model("full")[1]
    assert all(v.dtype == torch.float16 for v in weights.values())
    assert {k.split(".")[0] for k in weights} == {"vae", "mdnrnn", "controller"}


def test_a_new_part_drops_the_parts_trained_on_the_old_one(tmp_path):
    save_tiny(tmp_path, "m", parts=("vae", "mdnrnn", "controller"))
    card, dropped = loading.save_part(tmp_path, "m", "vae", VAE(4).state_dict(), TINY,
                                      {"command": "again"})
    assert dropped == ["mdnrnn", "controller"] and list(card.quality) == ["vae"]
    assert card.command == "again"
    with pytest.raises(UserError, match="has no MDN-RNN"):
        loading.save_part(tmp_path, "m", "controller", {"weight": torch.zeros(3, 20),
                                                        "bias": torch.zeros(3)}, TINY, {})


def test_missing_and_mismatched_models_are_one_line_errors(tmp_path):
    save_tiny(tmp_path, "v_only", parts=("vae",))
    save_tiny(tmp_path, "wrong_z", vae_z=8, parts=("vae",))  # a VAE with another z
    from studio_compose.musegan import Critic, Generator, MuseGANConfig
    from studio_compose.train import write_model_folder

    cfg = MuseGANConfig(n_bars=2, n_steps=8, n_pitches=36, lowest_pitch=48)
    write_model_folder(tmp_path / "song", Generator(cfg), Critic(cfg), cfg)
    ctx = ctx_for(store_at(tmp_path))
    cases = {"nope": "unknown model 'nope'",
             "v_only": "model v_only has no MDN-RNN (M) yet; train it with drive.train-rnn",
             "wrong_z": "its VAE has z = 8, but the model's config says z_size 4",
             "song": "song is a compose model, not a drive model"}
    for model_id, message in cases.items():
        with pytest.raises(UserError) as err:
            loading.load_world_model(ctx, model_id)
        assert message in str(err.value) and "\n" not in str(err.value)
    card, vae, m, c = loading.load_world_model(ctx, "v_only", require=("vae",))
    assert m is None and c is None
    with pytest.raises(UserError, match="give the drive model another --model-id"):
        loading.save_part(tmp_path, "song", "vae", VAE(4).state_dict(), TINY, {})


# --- training V and M -------------------------------------------------------------------------


def vae_values(rollouts: Path, steps: int, **kw) -> dict:
    return {"data": rollouts, "model_id": "mine", "z_size": 4, "steps": steps,
            "batch_size": 8, "lr": 1e-3, "eval_interval": 2, "log_interval": 1,
            "precision": "fp32", "buffer_episodes": 2, **kw}


def test_train_vae_writes_the_model_resumes_exactly_and_charts_its_losses(rollouts, tmp_path):
    a = store_at(tmp_path / "a")
    events = run(TRAIN_VAE, vae_values(rollouts, 2, eval_interval=1), a, seed=3)
    card = a.get("mine")
    assert card.capability == "drive" and card.config["z_size"] == 4
    assert "drive.train-vae" in card.command and "--seed 3" in card.command
    assert card.quality["vae"]["steps"] == 2 and "3 rollouts" in card.training_data
    charts = [e.data for e in events if isinstance(e, Preview) and isinstance(e.data, dict)]
    assert [c["step"] for c in charts if "loss" in c] == [1, 2]
    assert {"recon", "kl"} <= set(charts[0]) and any("valid_recon" in c for c in charts)
    pictures = [e.data for e in events if isinstance(e, Preview) and isinstance(e.data,
                                                                                np.ndarray)]
    assert pictures and pictures[-1].shape == (64 * 2 + 2, 8 * 66 - 2, 3)  # frames over recons
    _, vae, m, _ = loading.load_world_model(ctx_for(a), "mine", require=("vae",))
    assert m is None and vae.z_size == 4

    b = store_at(tmp_path / "b")
    run(TRAIN_VAE, vae_values(rollouts, 1, eval_interval=1), b, seed=3)
    events = run(TRAIN_VAE, vae_values(rollouts, 2, eval_interval=1, resume=True), b, seed=99)
    assert any("resuming mine's VAE at step 1" in e.message for e in events
               if isinstance(e, Log))
    one = read_checkpoint(Path(a.user_dir) / "mine" / VAE_STATE)
    two = read_checkpoint(Path(b.user_dir) / "mine" / VAE_STATE)
    assert one["step"] == two["step"] == 2
    for key in one["vae"]:
        torch.testing.assert_close(one["vae"][key], two["vae"][key])
    assert "--seed 3" in b.get("mine").command  # the run's own seed, not the resumed one's


def test_train_vae_loss_falls(rollouts, tmp_path):
    store = store_at(tmp_path)
    run(TRAIN_VAE, vae_values(rollouts, 8, eval_interval=8), store, seed=4)
    after = read_checkpoint(Path(store.user_dir) / "mine" / VAE_STATE)["history"][-1]
    torch.manual_seed(4)  # the weights the run began with
    frames = train_vae.valid_frames(rollout_files(rollouts), train_vae.VALID_FRAMES, [])
    before, _, _ = train_vae.evaluate(VAE(4), frames, "cpu", False, 0.5)
    assert after["valid_recon"] < 0.5 * before


def test_train_vae_refuses_bad_input(rollouts, tmp_path):
    store = store_at(tmp_path / "models")
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "holds no rollouts" in fails(TRAIN_VAE, vae_values(empty, 1), store)
    assert "use letters, digits" in fails(TRAIN_VAE, vae_values(rollouts, 1, model_id="a b"),
                                          store)
    (empty / rollout_name(0)).write_bytes(b"broken")  # nothing readable: said, and by name
    message = fails(TRAIN_VAE, vae_values(empty, 1), store)
    assert "could be read" in message and rollout_name(0) in message


def test_a_damaged_rollout_is_skipped_with_a_warning(rollouts, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    for f in rollouts.glob("*.npz"):
        (data / f.name).write_bytes(f.read_bytes())
    (data / rollout_name(7)).write_bytes(b"broken")
    store = store_at(tmp_path / "models")
    events = run(TRAIN_VAE, vae_values(data, 1, buffer_episodes=8), store)
    assert any(rollout_name(7) in w and "skipped" in w for w in warnings_in(events))
    events = run(TRAIN_RNN, rnn_values(data, 2), store)
    assert any(rollout_name(7) in w and "skipped" in w for w in warnings_in(events))
    assert store.get("mine").quality["mdnrnn"]["data"].startswith("3 rollouts")


def rnn_values(rollouts: Path, steps: int, **kw) -> dict:
    return {"data": rollouts, "model_id": "mine", "hidden": 16, "gaussians": 2,
            "steps": steps, "batch_size": 4, "seq_len": 8, "lr": 1e-2, "eval_interval": 2,
            "log_interval": 1, **kw}


@pytest.fixture(scope="module")
def vae_trained(rollouts, tmp_path_factory) -> Path:
    """A store folder holding 'mine', a drive model with a (briefly) trained VAE of z 4."""
    root = tmp_path_factory.mktemp("models")
    run(TRAIN_VAE, vae_values(rollouts, 2), store_at(root))
    return root


@pytest.fixture
def with_vae(vae_trained, tmp_path) -> ModelStore:
    """A copy of that store for one test (without V's training state)."""
    import shutil

    shutil.copytree(vae_trained, tmp_path / "models", ignore=shutil.ignore_patterns(VAE_STATE))
    return store_at(tmp_path / "models")


def test_train_rnn_caches_latents_adds_m_and_resumes_exactly(rollouts, with_vae, tmp_path):
    store = with_vae
    events = run(TRAIN_RNN, rnn_values(rollouts, 4), store, seed=2)
    card = store.get("mine")
    assert card.config == TINY and sorted(card.quality) == ["mdnrnn", "vae"]
    assert "drive.train-vae" in card.command and "drive.train-rnn" in card.command
    charts = [e.data for e in events if isinstance(e, Preview) and isinstance(e.data, dict)]
    assert {"step", "nll", "reward", "done"} <= set(charts[0])
    _, vae, m, _ = loading.load_world_model(ctx_for(store), "mine")
    assert m.hidden == 16 and m.gaussians == 2
    caches = list((Path(store.user_dir) / "mine" / CACHE_DIR).glob("*/*.npz"))
    assert len(caches) == 3
    with np.load(caches[0], allow_pickle=False) as z:
        assert z["mu"].dtype == np.float16 and z["mu"].shape == (24, 4)
    stamps = {c: c.stat().st_mtime_ns for c in caches}

    state = Path(store.user_dir) / "mine" / RNN_STATE
    whole = read_checkpoint(state)["mdnrnn"]
    run(TRAIN_RNN, rnn_values(rollouts, 2), store, seed=2)
    assert {c: c.stat().st_mtime_ns for c in caches} == stamps  # not encoded again
    run(TRAIN_RNN, rnn_values(rollouts, 4, resume=True), store, seed=5)
    resumed = read_checkpoint(state)
    assert resumed["step"] == 4
    for key in whole:
        torch.testing.assert_close(whole[key], resumed["mdnrnn"][key])

    # a new VAE drops M, and M's checkpoint no longer fits it
    events = run(TRAIN_VAE, vae_values(rollouts, 1), store, seed=1)
    assert any("its mdnrnn" in w and "dropped" in w for w in warnings_in(events))
    assert "mdnrnn" not in store.get("mine").quality
    assert "VAE changed since its M checkpoint" in fails(
        TRAIN_RNN, rnn_values(rollouts, 6, resume=True), store)


def test_train_rnn_loss_falls(rollouts, with_vae):
    run(TRAIN_RNN, rnn_values(rollouts, 30, eval_interval=10, seq_len=12), with_vae)
    history = read_checkpoint(Path(with_vae.user_dir) / "mine" / RNN_STATE)["history"]
    first, last = history[0], history[-1]  # at steps 10 and 30
    assert last["valid_loss"] < first["valid_loss"]
    # the reward (twice the steering) is learned; z, drawn from a barely trained V's wide
    # posteriors, is mostly noise here
    assert last["valid_reward"] < 0.7 * first["valid_reward"]


def test_train_rnn_refuses_missing_and_mismatched_models(rollouts, tmp_path):
    root = tmp_path / "models"
    save_tiny(root, "wrong_z", vae_z=8, parts=("vae",))
    store = store_at(root)
    assert "unknown model 'nope'" in fails(TRAIN_RNN, rnn_values(rollouts, 1, model_id="nope"),
                                           store)
    assert "its VAE has z = 8" in fails(TRAIN_RNN, rnn_values(rollouts, 1, model_id="wrong_z"),
                                        store)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "holds no rollouts" in fails(TRAIN_RNN, rnn_values(empty, 1, model_id="wrong_z"),
                                        store)
