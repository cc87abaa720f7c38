"""Speed of Drive, each figure beside a baseline measured in the same run. Prints JSON.

- env: CarRacing-v3 steps per second with gymnasium's stock pygame renderer, with the fast
  renderer (``studio_drive.render``), and with no observation drawn at all (the physics alone,
  which bounds any renderer); random steering, gas 0.5. The three take turns in every run so that
  the machine's load falls on all alike; medians over ``--runs``. Steps per second of wall-clock
  time, and per second of this process's CPU time (what the figures would be on an idle core:
  the machine may be shared), after one untimed run each. Resets (a new track, and for the fast
  renderer its texture) are timed apart.
- world_model: V's frames per second, encoding and decoding a batch of 64 (bf16 autocast with
  channels-last, the project's path, against plain eager fp32 in the same run); the dream's steps
  per second, 64 dreams in lockstep against one at a time, with decoded-frame and latent
  observations (random full-size V and M: the speed does not depend on the weights).
- controller: the World Models agent's steps per second, 16 episodes in lockstep against one
  at a time; one CMA-ES generation's wall time on the local executor and on a local Ray
  instance against the same generation in this process (``controller_figures``).

    python benchmarks/drive.py [--runs 5] [--steps 500] [--only env]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

import numpy as np

from studio_drive.env import make_env


def env_figures(runs: int, steps: int) -> dict[str, object]:
    envs = {"stock": make_env("stock", seed=0), "fast": make_env("fast", seed=0),
            "physics only": make_env("stock", seed=0)}
    # no observation drawn (a fresh zero frame each step, as gymnasium's checker asks)
    envs["physics only"].unwrapped._render = lambda mode: np.zeros((96, 96, 3), np.uint8)
    rng = np.random.default_rng(0)
    rates: dict[str, list[float]] = {name: [] for name in envs}
    cpu_rates: dict[str, list[float]] = {name: [] for name in envs}
    resets: dict[str, list[float]] = {name: [] for name in envs}
    for env in envs.values():  # a run untimed first: imports, caches, the font
        env.reset()
        for _ in range(steps):
            env.step(np.array([rng.uniform(-1, 1), 0.5, 0.0], np.float32))
        env.reset()
    for _ in range(runs):
        for name, env in envs.items():
            actions = [np.array([rng.uniform(-1, 1), 0.5, 0.0], np.float32) for _ in range(steps)]
            wall, cpu = time.perf_counter(), time.process_time()
            for action in actions:
                _, _, terminated, truncated, _ = env.step(action)
                if terminated or truncated:
                    env.reset()  # not seen with these actions; it would count in the figure
            rates[name].append(steps / (time.perf_counter() - wall))
            cpu_rates[name].append(steps / (time.process_time() - cpu))
            t = time.perf_counter()
            env.reset()
            resets[name].append(time.perf_counter() - t)

    def medians(r: dict[str, list[float]]) -> dict[str, float]:
        return {name: statistics.median(v) for name, v in r.items()}

    med, cpu_med = medians(rates), medians(cpu_rates)
    return {
        "steps per run": steps,
        "runs": runs,
        "steps_per_s": {name: round(v) for name, v in med.items()},
        "fast over stock": round(med["fast"] / med["stock"], 1),
        "fast over physics only (1.0 = drawing costs nothing)":
            round(med["fast"] / med["physics only"], 2),
        "steps_per_cpu_s": {name: round(v) for name, v in cpu_med.items()},
        "fast over stock (CPU time)": round(cpu_med["fast"] / cpu_med["stock"], 1),
        "reset_ms (median, wall)": {name: round(1000 * statistics.median(r), 1)
                                    for name, r in resets.items()},
    }


CMA_POP, CMA_ROLLOUTS, CMA_STEPS = 8, 2, 200  # the generation timed by "controller"


def _score_timed(chunk: object) -> tuple[np.ndarray, np.ndarray, float]:
    """``agent.score_chunk`` and the CPU seconds the worker spent on it."""
    from studio_drive.agent import score_chunk

    cpu = time.process_time()
    scores, steps = score_chunk(chunk)
    return scores, steps, time.process_time() - cpu


def controller_figures(runs: int, steps: int) -> dict[str, object]:
    """The agent (full-size V and M, random weights; fast renderer) driving 16 episodes in
    lockstep against one at a time, in this process on one thread (steps per second of wall
    time and of this process's CPU time, what an idle core would give); then one CMA-ES generation
    (8 candidates x 2 tracks x 200 steps) on the local executor (a process per core, each on
    one thread) and on a local Ray instance, against the same generation in this process on
    one thread (one worker: on a shared machine two threads for such small batches spin in
    each other's way).
    Executors' start-up (processes, Ray) is timed apart, and the CPU seconds the workers spent
    are summed (on a shared machine more processes need not get more of it); medians over
    ``runs`` generations."""
    import torch

    from studio_drive import agent as agents
    from studio_drive.controller import Controller
    from studio_drive.executors import make_executor
    from studio_drive.mdnrnn import MDNRNN
    from studio_drive.train_controller import new_es
    from studio_drive.vae import VAE

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    vae, m = VAE().eval(), MDNRNN().eval()
    n = Controller().n_params
    rng = np.random.default_rng(0)
    pool = agents.EnvPool("fast")
    out: dict[str, object] = {"agent": {}, "generation": {}}
    with torch.inference_mode():
        for precision in ("fp32", "bf16"):
            for batch in (1, 16):
                rates, cpu_rates = [], []
                for r in range(runs):
                    params = rng.normal(0, 0.1, (batch, n)).astype(np.float32)
                    policy = agents.ControllerBatch.from_flat(params, range(batch))
                    agent = agents.Agent(vae, m, policy, precision)
                    seeds = np.arange(batch) + 100 * r
                    t, cpu = time.perf_counter(), time.process_time()
                    _, done = agents.run_episodes(agent, pool.take(batch), seeds, steps)
                    rates.append(done.sum() / (time.perf_counter() - t))
                    cpu_rates.append(done.sum() / (time.process_time() - cpu))
                key = f"{precision}, {batch} in lockstep"
                out["agent"][key] = round(statistics.median(rates))
                out["agent"][key + " (per CPU second)"] = round(statistics.median(cpu_rates))
    pool.close()
    agent_rates = out["agent"]
    out["agent"]["lockstep 16 over one at a time (bf16)"] = round(
        agent_rates["bf16, 16 in lockstep"] / agent_rates["bf16, 1 in lockstep"], 1)

    spec = agents.WorldSpec.of({"z_size": 32, "hidden": 256, "gaussians": 5, "actions": 3},
                               vae, m, renderer="fast", max_steps=CMA_STEPS)
    kinds = {"this process": dict(workers=1), "local processes": dict(workers=0),
             "local Ray": dict(ray="local", workers=0)}
    for name, kw in kinds.items():
        t = time.perf_counter()
        try:
            executor = make_executor(setup=agents.setup_worker, setup_args=(spec,), **kw)
        except Exception as exc:  # Ray not installed
            out["generation"][name] = f"skipped: {exc}"
            continue
        es, _ = new_es(n, 0.1, CMA_POP, 0)
        times, cpus = [], []
        try:
            warm = [agents.make_chunk(np.zeros((1, n), np.float32), [(0, 1)])]
            executor.map(agents.score_chunk, warm * executor.workers)  # the workers are up
            start = time.perf_counter() - t
            for g in range(runs):
                t = time.perf_counter()
                xs = np.asarray(es.ask(), np.float32)
                pairs = [(c, 1000 * g + s) for c in range(CMA_POP) for s in range(CMA_ROLLOUTS)]
                size = max(1, -(-len(pairs) // (2 * executor.workers)))
                items = [agents.make_chunk(xs, pairs[i:i + size])
                         for i in range(0, len(pairs), size)]
                results = executor.map(_score_timed, items)
                scores = np.concatenate([r[0] for r in results])
                es.tell(list(xs.astype(np.float64)),
                        list(-scores.reshape(CMA_POP, CMA_ROLLOUTS).mean(1)))
                times.append(time.perf_counter() - t)
                cpus.append((sum(r[2] for r in results), sum(int(r[1].sum()) for r in results)))
        finally:
            executor.close()
        cpu_s = statistics.median(c for c, _ in cpus)
        out["generation"][name] = {
            "workers": executor.workers, "start_s": round(start, 1),
            "generation_s": round(statistics.median(times), 1),
            "workers' CPU s": round(cpu_s, 1),
            "steps per worker CPU s": round(statistics.median(k / c for c, k in cpus))}
    torch.set_num_threads(threads)
    gen = out["generation"]
    base = gen["this process"]["generation_s"]
    for name in ("local processes", "local Ray"):
        if isinstance(gen[name], dict):
            gen[name]["speed-up over this process"] = round(base / gen[name]["generation_s"], 2)
    out["generation"]["size"] = (f"{CMA_POP} candidates x {CMA_ROLLOUTS} tracks x up to "
                                 f"{CMA_STEPS} steps")
    return out


def _median_seconds(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm up
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def world_model_figures(runs: int, steps: int) -> dict[str, object]:
    import torch

    from studio_drive.dream import DreamVecEnv
    from studio_drive.mdnrnn import MDNRNN
    from studio_drive.vae import VAE

    torch.manual_seed(0)
    vae, mdnrnn = VAE(32).eval(), MDNRNN(32).eval()
    frames = torch.rand(64, 3, 64, 64)
    z = torch.randn(64, 32)
    out: dict[str, object] = {"batch": 64}
    with torch.inference_mode():
        for name, bf16 in (("fp32", False), ("bf16_channels_last", True)):
            x = frames.contiguous(memory_format=torch.channels_last) if bf16 else frames
            net = vae.to(memory_format=torch.channels_last) if bf16 else VAE(32).eval()
            if not bf16:
                net.load_state_dict(vae.state_dict())
            auto = torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16)

            def encode(net=net, x=x, auto=auto):
                with auto:
                    return net.encode(x)

            def decode(net=net, auto=auto):
                with auto:
                    return net.decode(z)

            out[f"encode_frames_per_s_{name}"] = round(64 / _median_seconds(encode, runs))
            out[f"decode_frames_per_s_{name}"] = round(64 / _median_seconds(decode, runs))
    for key in ("encode", "decode"):
        out[f"{key}_speed_up"] = round(out[f"{key}_frames_per_s_bf16_channels_last"]
                                       / out[f"{key}_frames_per_s_fp32"], 2)
    dream_steps = max(10, steps // 5)
    for observation in ("frame", "latent"):
        for n in (1, 64):
            env = DreamVecEnv(vae, mdnrnn, num_envs=n, observation=observation)
            env.reset(seed=0)
            actions = np.zeros((n, 3), np.float32)
            actions[:, 1] = 0.5

            def dream(env=env, actions=actions):
                for _ in range(dream_steps):
                    env.step(actions)

            seconds = _median_seconds(dream, runs)
            out[f"dream_{observation}_steps_per_s_x{n}"] = round(n * dream_steps / seconds)
        out[f"dream_{observation}_lockstep_speed_up"] = round(
            out[f"dream_{observation}_steps_per_s_x64"]
            / out[f"dream_{observation}_steps_per_s_x1"], 1)
    return out


# each section takes (runs, steps) and returns its figures
SECTIONS: dict[str, Callable[[int, int], dict[str, object]]] = {
    "env": env_figures,
    "world_model": world_model_figures,
    "controller": controller_figures,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--steps", type=int, default=500, help="environment steps per run")
    ap.add_argument("--only", nargs="*", choices=sorted(SECTIONS), help="sections to run")
    args = ap.parse_args()
    report = {name: fn(args.runs, args.steps) for name, fn in SECTIONS.items()
              if not args.only or name in args.only}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
