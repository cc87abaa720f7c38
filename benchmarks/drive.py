"""Speed of Drive, each figure beside a baseline measured in the same run. Prints JSON.

- env: CarRacing-v3 steps per second with gymnasium's stock pygame renderer, with the fast
  renderer (``studio_drive.render``), and with no observation drawn at all (the physics alone,
  which bounds any renderer); random steering, gas 0.5. The three take turns in every run so that
  the machine's load falls on all alike; medians over ``--runs``. Steps per second of wall-clock
  time, and per second of this process's CPU time (what the figures would be on an idle core:
  the machine may be shared). Resets (a new track, and for the fast renderer its texture) are
  timed apart.

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
    blank = np.zeros((96, 96, 3), np.uint8)
    envs["physics only"].unwrapped._render = lambda mode: blank  # no observation drawn
    rng = np.random.default_rng(0)
    rates: dict[str, list[float]] = {name: [] for name in envs}
    cpu_rates: dict[str, list[float]] = {name: [] for name in envs}
    resets: dict[str, list[float]] = {name: [] for name in envs}
    for env in envs.values():
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


# each section takes (runs, steps) and returns its figures
SECTIONS: dict[str, Callable[[int, int], dict[str, object]]] = {
    "env": env_figures,
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
