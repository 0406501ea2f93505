"""Time of a full FairMaskDebiaser fit on Adult's validation split (about 9,000 rows).

The base network is the DESIGN §3 MLP (10 × 32, BatchNorm, dropout 0.2) trained
on the train split; the fit uses the default settings and the CPU. Each phase is
timed separately. Run from the repository root, with nothing else running:

    python benchmarks/fit_speed.py --repeats 3

Writes benchmarks/results/fit_speed.md and .json.
"""

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.frozen import FrozenEstimator

from skfairmask import FairMaskDebiaser
from skfairmask.datasets import load_adult, protocol_split
from skfairmask.network import train_base_network

RESULTS = Path(__file__).parent / "results"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--strategy", default=FairMaskDebiaser().strategy)
    args = parser.parse_args()

    X, y, A = load_adult("sex")
    split = protocol_split(X, y, A, random_state=0)
    net = train_base_network(split.train[0], split.train[1], random_state=0)
    X_val, y_val, A_val = split.validation

    runs = []
    for repeat in range(args.repeats):
        start = time.perf_counter()
        deb = FairMaskDebiaser(FrozenEstimator(net), strategy=args.strategy, random_state=repeat)
        deb.fit(X_val, y_val, sensitive=A_val)
        wall = time.perf_counter() - start
        runs.append({**{k: round(v, 3) for k, v in deb.timings_.items()}, "wall": round(wall, 3)})
        print(f"repeat {repeat}: {runs[-1]}", flush=True)

    machine = {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "rows": int(len(y_val)),
        "parameters": int(sum(p.numel() for p in net.module_.parameters())),
    }
    phases = [k for k in runs[0] if k not in ("total", "wall")] + ["total", "wall"]
    lines = [
        f"# Fit time: `{args.strategy}` on Adult's validation split",
        "",
        f"Produced by `python benchmarks/fit_speed.py --repeats {args.repeats} --strategy {args.strategy}`, "
        "default settings otherwise, CPU.",
        f"Machine: {machine['cpu_count']} cores, torch {machine['torch']} with {machine['torch_threads']} "
        f"threads; {machine['rows']} rows; base network of {machine['parameters']} parameters.",
        "",
        "| phase | mean s | min s | max s |",
        "|---|---|---|---|",
    ]
    for phase in phases:
        values = np.array([r[phase] for r in runs])
        lines.append(f"| {phase} | {values.mean():.2f} | {values.min():.2f} | {values.max():.2f} |")
    lines += ["", "`total` is the whole `fit` (set-up, strategy, threshold); `wall` adds the estimator's construction."]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "fit_speed.json").write_text(json.dumps({"machine": machine, "runs": runs}, indent=1))
    (RESULTS / "fit_speed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
