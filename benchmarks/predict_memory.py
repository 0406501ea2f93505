"""Peak memory and throughput of ``predict_proba`` on 1M rows × 100 features.

A debiaser is fitted on a small synthetic set (strategy ``none``: the network,
not the strategy, sets the cost of prediction); then ``predict_proba`` runs on
1,000,000 rows, in float32 and in float64, and the peak resident memory it adds
above the input itself is read from Linux's ``VmHWM`` after resetting it.
skorch's own ``net_.predict_proba`` is measured beside it. Run from the
repository root, with nothing else running:

    python benchmarks/predict_memory.py

Writes benchmarks/results/predict_memory.md and .json.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from skfairmask import FairMaskDebiaser
from skfairmask.datasets import make_biased_classification
from skfairmask.network import train_base_network

RESULTS = Path(__file__).parent / "results"


def _status_mib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_added_mib(function, *args):
    """Run ``function(*args)``; return its result, seconds, and the peak RSS it added (MiB)."""
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status_mib("VmRSS")
    start = time.perf_counter()
    result = function(*args)
    seconds = time.perf_counter() - start
    return result, seconds, _status_mib("VmHWM") - before


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=100)
    args = parser.parse_args()

    X, y, A = make_biased_classification(4000, n_features=args.features, random_state=0)
    net = train_base_network(X[:2000], y[:2000], epochs=2, random_state=0)
    deb = FairMaskDebiaser(net, strategy="none", random_state=0).fit(X[2000:], y[2000:], sensitive=A[2000:])

    rng = np.random.default_rng(0)
    runs = []
    for dtype in (np.float32, np.float64):
        big = np.empty((args.rows, args.features), dtype=dtype)
        for start in range(0, args.rows, 100_000):  # filled in slices: no large temporary
            big[start:start + 100_000] = rng.standard_normal((min(100_000, args.rows - start), args.features))
        methods = [("FairMaskDebiaser.predict_proba", deb.predict_proba)]
        if dtype == np.float32:  # skorch feeds X to the module as it is: float64 fails there
            methods.append(("skorch net_.predict_proba", deb.net_.predict_proba))
        for name, predict in methods:
            proba, seconds, added = peak_added_mib(predict, big)
            runs.append({"method": name, "dtype": np.dtype(dtype).name, "input_mib": big.nbytes / 2**20,
                         "output_mib": proba.nbytes / 2**20, "peak_added_mib": added,
                         "seconds": seconds, "rows_per_second": args.rows / seconds})
            print(runs[-1], flush=True)
            del proba
        del big

    RESULTS.mkdir(exist_ok=True)
    info = {"rows": args.rows, "features": args.features, "torch_threads": torch.get_num_threads(),
            "parameters": int(sum(p.numel() for p in deb.net_.module_.parameters()))}
    (RESULTS / "predict_memory.json").write_text(json.dumps({"setup": info, "runs": runs}, indent=1))
    lines = [f"# predict_proba on {args.rows:,} rows × {args.features} features",
             "", f"Produced by `python benchmarks/predict_memory.py`. The DESIGN §3 MLP "
             f"({info['parameters']:,} parameters), CPU, {info['torch_threads']} torch threads. *Peak added* "
             "is the resident memory above the input at the peak of the call (Linux VmHWM), "
             "output included.", "",
             "| method | input dtype | input MiB | output MiB | peak added MiB | seconds | rows/s |",
             "|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['method']} | {r['dtype']} | {r['input_mib']:.0f} | {r['output_mib']:.0f} "
                     f"| {r['peak_added_mib']:.0f} | {r['seconds']:.2f} | {r['rows_per_second']:,.0f} |")
    table = "\n".join(lines) + "\n"
    (RESULTS / "predict_memory.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
