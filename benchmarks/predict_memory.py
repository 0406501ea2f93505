"""Peak memory and throughput of ``predict_proba`` on 1M rows × 100 features.

A debiaser is fitted on a small synthetic set (strategy ``none``: the network,
not the strategy, sets the cost of prediction); then ``predict_proba`` runs on
1,000,000 rows, in float32 and in float64, and the peak resident memory it adds
above the input itself is read from Linux's ``VmHWM`` after resetting it.
Every call runs in a fresh process, ``--repeats`` times per method, and the
table gives the median and the range: within one process, memory a call
freed stays resident and hides what the next one adds. skorch's own
``net_.predict_proba`` is measured beside it. Run from the
repository root, with nothing else running:

    python benchmarks/predict_memory.py

Writes benchmarks/results/predict_memory.md and .json.
"""

import argparse
import json
import multiprocessing
import pickle
import tempfile
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


METHODS = {"FairMaskDebiaser.predict_proba": lambda deb: deb.predict_proba,
           "skorch net_.predict_proba": lambda deb: deb.net_.predict_proba}


def _filled(rows, features, dtype):
    """Standard normal rows, filled in slices so that no large temporary doubles the input."""
    rng = np.random.default_rng(0)
    big = np.empty((rows, features), dtype=dtype)
    for start in range(0, rows, 100_000):
        big[start:start + 100_000] = rng.standard_normal((min(100_000, rows - start), features))
    return big


def _one_call(pickled, method, dtype, rows, features, queue):
    """In a fresh process: one call of ``method`` on a fresh input; puts its seconds, added, output and input MiB,
    and torch threads."""
    deb = pickle.loads(Path(pickled).read_bytes())
    big = _filled(rows, features, dtype)
    proba, seconds, added = peak_added_mib(METHODS[method](deb), big)
    queue.put((seconds, added, proba.nbytes / 2**20, big.nbytes / 2**20, torch.get_num_threads()))


def measure(pickled, method, dtype, args):
    """Median seconds and peak added MiB of ``--repeats`` calls, each in a fresh process, and their range."""
    context = multiprocessing.get_context("spawn")
    calls = []
    for _ in range(args.repeats):
        queue = context.Queue()
        process = context.Process(target=_one_call, args=(pickled, method, dtype, args.rows, args.features, queue))
        process.start()
        calls.append(queue.get())
        process.join()
    seconds, added = np.median([c[:2] for c in calls], axis=0)
    _, _, output_mib, input_mib, threads = calls[0]
    return {"method": method, "dtype": np.dtype(dtype).name, "input_mib": input_mib, "output_mib": output_mib,
            "peak_added_mib": float(added), "peak_added_mib_range": [min(c[1] for c in calls),
                                                                     max(c[1] for c in calls)],
            "seconds": float(seconds), "rows_per_second": args.rows / float(seconds), "torch_threads": threads}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3, help="calls per method, each in a fresh process")
    args = parser.parse_args()

    X, y, A = make_biased_classification(4000, n_features=args.features, random_state=0)
    net = train_base_network(X[:2000], y[:2000], epochs=2, random_state=0)
    deb = FairMaskDebiaser(net, strategy="none", random_state=0).fit(X[2000:], y[2000:], sensitive=A[2000:])

    runs = []
    with tempfile.TemporaryDirectory() as folder:
        pickled = Path(folder) / "debiaser.pkl"
        pickled.write_bytes(pickle.dumps(deb))
        for dtype in (np.float32, np.float64):
            for method in METHODS:
                if dtype == np.float64 and method.startswith("skorch"):
                    continue  # skorch feeds X to the module as it is: float64 fails there
                runs.append(measure(pickled, method, dtype, args))
                print(runs[-1], flush=True)

    RESULTS.mkdir(exist_ok=True)
    info = {"rows": args.rows, "features": args.features, "repeats": args.repeats,
            "torch_threads": runs[0]["torch_threads"],
            "parameters": int(sum(p.numel() for p in deb.net_.module_.parameters()))}
    (RESULTS / "predict_memory.json").write_text(json.dumps({"setup": info, "runs": runs}, indent=1))
    lines = [f"# predict_proba on {args.rows:,} rows × {args.features} features",
             "", f"Produced by `python benchmarks/predict_memory.py`. The DESIGN §3 MLP "
             f"({info['parameters']:,} parameters), CPU, {info['torch_threads']} torch threads. Each call "
             f"ran in a fresh process, {args.repeats} per method. *Peak added* is the resident memory above "
             "the input at the peak of a call (Linux VmHWM), output included: the median call, and the "
             "range over the calls. *seconds* and *rows/s* are the median call's.", "",
             "| method | input dtype | input MiB | output MiB | peak added MiB (range) | seconds | rows/s |",
             "|---|---|---|---|---|---|---|"]
    for r in runs:
        low, high = r["peak_added_mib_range"]
        lines.append(f"| {r['method']} | {r['dtype']} | {r['input_mib']:.0f} | {r['output_mib']:.0f} "
                     f"| {r['peak_added_mib']:.0f} ({low:.0f}–{high:.0f}) | {r['seconds']:.2f} "
                     f"| {r['rows_per_second']:,.0f} |")
    table = "\n".join(lines) + "\n"
    (RESULTS / "predict_memory.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
