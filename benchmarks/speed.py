"""Fit time against plain fine-tuning, under load, and how it grows with rows and parameters; peak memory.

On Adult (sex, SPD), seed 0, the DESIGN §3 protocol:

1. The default fit (``auto``) and the ``prune_advft`` fit, split into their
   phases; ``prune_advft`` against plain fine-tuning of the same network on
   the same rows for as many epochs as it fine-tunes (Adam, BCE, batches of
   64: skorch's ``partial_fit``), once with skorch's default Adam and once
   with the multi-tensor (``foreach``) Adam that the debiaser uses. After one
   untimed fit (the first Adam of a process imports ``torch._dynamo``, about
   1 s, which would otherwise be charged to whichever ran first), they are
   timed ``REPEATS`` times in turn, and a ratio is the median of the
   per-round ratios, so that drifts in the machine's speed hit both sides alike.
2. The same two fits with ``BUSY`` CPU-bound processes running beside them,
   in the same run, as a ratio to the quiet fits of section 1.
3. Fit time as the debiasing rows grow from 1k to 32k (rows beyond the
   validation split's 9k are drawn from the train split: for timing only).
4. Fit time as the network grows from about 10k to 1M parameters (the base
   MLP, 10 layers, widened; untrained: for timing only).
5. The peak resident memory each fit adds (Linux VmHWM).

The growth exponents are least-squares slopes of log time on log size. Run
from the repository root, with nothing else running:

    python benchmarks/speed.py

Writes benchmarks/results/speed.md and .json.
"""

import copy
import json
import multiprocessing
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.frozen import FrozenEstimator

from skfairmask import FairMaskDebiaser
from skfairmask.datasets import load_adult, protocol_split
from skfairmask.network import make_base_module

from _common import RESULTS, base_network

ROWS = [1000, 2000, 4000, 8000, 16000, 32000]
WIDTHS = [32, 100, 316]  # about 10k, 100k and 1M parameters at depth 10
REPEATS = 5
#: CPU-bound processes beside the fits of section 2, on this 2-core machine.
BUSY = 2


def _status_mib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(field)


def timed_fit(network, X, y, A, seed=0, strategy="auto"):
    """Fit a debiaser; return its timings and the peak RSS it added (MiB)."""
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_mib("VmRSS")
    start = time.perf_counter()
    deb = FairMaskDebiaser(network, strategy=strategy, random_state=seed).fit(X, y, sensitive=A)
    wall = time.perf_counter() - start
    return {**deb.timings_, "wall": wall, "peak_added_mib": _status_mib("VmHWM") - before}


def plain_finetune_seconds(net, X, y, epochs, foreach=None):
    """The same network, fine-tuned on the same rows with plain BCE for ``epochs`` epochs.

    ``foreach`` is passed to Adam: None is skorch's default (a per-tensor loop on CPU).
    """
    plain = copy.deepcopy(net)
    plain.set_params(max_epochs=epochs, batch_size=64, verbose=0, train_split=None,
                     optimizer__foreach=foreach)
    start = time.perf_counter()
    plain.partial_fit(X, y.astype(np.float32))
    return time.perf_counter() - start


def slope(sizes, seconds):
    return float(np.polyfit(np.log(sizes), np.log(seconds), 1)[0])


def _busy(stop):
    """Burn one core until ``stop`` is set."""
    while not stop.is_set():
        sum(i * i for i in range(100_000))


def loaded_walls(net, X, y, A):
    """The default and the prune_advft fit, REPEATS times each, with BUSY CPU-bound processes beside them."""
    stop = multiprocessing.Event()
    workers = [multiprocessing.Process(target=_busy, args=(stop,)) for _ in range(BUSY)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(1.0)  # let the workers reach full speed
        walls = {strategy: [timed_fit(FrozenEstimator(net), X, y, A, strategy=strategy)["wall"]
                            for _ in range(REPEATS)] for strategy in ("auto", "prune_advft")}
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    return walls


def main():
    torch.manual_seed(0)
    X, y, A = load_adult("sex")
    split = protocol_split(X, y, A, random_state=0)
    net = base_network(split, "adult", "sex", 0)
    (Xt, yt, At), (Xv, yv, Av) = split.train, split.validation

    defaults = FairMaskDebiaser()
    epochs = defaults.finetune_epochs
    # The debiaser fine-tunes on its training share of the rows; plain fine-tuning gets the same share.
    share = int((1 - defaults.holdout_size) * len(yv))
    timed_fit(FrozenEstimator(net), Xv, yv, Av, strategy="prune_advft")  # untimed: one-time imports
    fits, pruned, plain_default, plain_foreach = [], [], [], []
    for _ in range(REPEATS):
        fits.append(timed_fit(FrozenEstimator(net), Xv, yv, Av))
        pruned.append(timed_fit(FrozenEstimator(net), Xv, yv, Av, strategy="prune_advft"))
        plain_default.append(plain_finetune_seconds(net, Xv[:share], yv[:share], epochs))
        plain_foreach.append(plain_finetune_seconds(net, Xv[:share], yv[:share], epochs, foreach=True))
        print("default fit", fits[-1], "prune_advft", pruned[-1], "plain fine-tuning", plain_default[-1],
              plain_foreach[-1], flush=True)
    quiet = {"auto": np.array([f["wall"] for f in fits]), "prune_advft": np.array([f["wall"] for f in pruned])}
    default = fits[int(np.argsort(quiet["auto"])[REPEATS // 2])]  # the median fit
    pruning = pruned[int(np.argsort(quiet["prune_advft"])[REPEATS // 2])]
    plain = {"skorch_default": np.array(plain_default), "foreach": np.array(plain_foreach)}
    ratios = {name: quiet["prune_advft"] / seconds for name, seconds in plain.items()}
    loaded = {name: np.array(walls) for name, walls in loaded_walls(net, Xv, yv, Av).items()}
    print("loaded", loaded, flush=True)

    X_pool, y_pool, A_pool = (np.concatenate(p) for p in zip((Xv, yv, Av), (Xt, yt, At)))
    by_rows = {}
    for n in ROWS:
        by_rows[n] = timed_fit(FrozenEstimator(net), X_pool[:n], y_pool[:n], A_pool[:n])
        print("rows", n, by_rows[n], flush=True)

    by_params = {}
    for width in WIDTHS:
        module = make_base_module(Xv.shape[1], hidden=width)
        n_params = sum(p.numel() for p in module.parameters())
        by_params[n_params] = timed_fit(module, Xv, yv, Av)
        print("parameters", n_params, by_params[n_params], flush=True)

    result = {
        "default": default, "default_walls": quiet["auto"].tolist(), "repeats": REPEATS,
        "prune_advft": pruning, "prune_advft_walls": quiet["prune_advft"].tolist(),
        "loaded_walls": {name: walls.tolist() for name, walls in loaded.items()}, "busy_processes": BUSY,
        "load_ratio": {name: float(np.median(loaded[name]) / np.median(quiet[name])) for name in loaded},
        "plain_finetune_seconds": {name: seconds.tolist() for name, seconds in plain.items()},
        "finetune_epochs": epochs,
        "ratio": {name: float(np.median(r)) for name, r in ratios.items()},
        "ratio_range": {name: [float(r.min()), float(r.max())] for name, r in ratios.items()},
        "by_rows": by_rows, "by_parameters": by_params,
        "rows_exponent": slope(list(by_rows), [r["wall"] for r in by_rows.values()]),
        "parameters_exponent": slope(list(by_params), [r["wall"] for r in by_params.values()]),
        "torch_threads": torch.get_num_threads(),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "speed.json").write_text(json.dumps(result, indent=1, default=str))
    def phases(fit):
        """`` (phase 1.0 s, ...)``, or nothing for a fit that records no phases."""
        parts = [f"{k} {v:.1f} s" for k, v in fit.items() if k not in ("wall", "total", "peak_added_mib")]
        return f" ({', '.join(parts)})" if parts else ""

    lines = [
        "# Fit time and memory (Adult sex SPD, seed 0, CPU)", "",
        f"Produced by `python benchmarks/speed.py` on a machine with nothing else running (the caller's "
        f"torch threads: {result['torch_threads']}; each fit runs on one thread of its own).", "",
        "## The default fit, and fine-tuning against plain fine-tuning", "",
        f"{REPEATS} rounds after one untimed fit; each round times the default fit (`auto`, which is the "
        f"output offset on this network), the `prune_advft` fit and both plain fine-tunings in turn, on "
        f"{len(yv):,} rows. Median rounds: default {default['wall']:.2f} s{phases(default)}; `prune_advft` "
        f"{pruning['wall']:.1f} s{phases(pruning)}. Plain fine-tuning of the same network, {epochs} epochs on "
        f"the same {share:,} training rows that `prune_advft` fine-tunes on:", "",
        "| plain fine-tuning with | median s | `prune_advft` fit ÷ plain, median of rounds (range) "
        "| goal ≤ 1.5× |", "|---|---|---|---|",
        *[f"| {label} | {np.median(plain[name]):.1f} | **{result['ratio'][name]:.2f}×** "
          f"({result['ratio_range'][name][0]:.2f}–{result['ratio_range'][name][1]:.2f}) "
          f"| {'met' if result['ratio'][name] <= 1.5 else 'not met'} |"
          for name, label in [("skorch_default", "skorch's default Adam (a per-tensor loop on CPU)"),
                              ("foreach", "the debiaser's Adam (`foreach=True`)")]], "",
        "The second row runs both on the same optimizer code, so its ratio is the method's own cost.", "",
        f"## Beside {BUSY} CPU-bound processes", "",
        f"The same fits, {REPEATS} times each, with {BUSY} processes that each keep a core busy, in the same "
        "run as the quiet fits above:", "",
        "| fit | quiet, median s | loaded, median s | loaded ÷ quiet | goal ≤ 3× |", "|---|---|---|---|---|",
        *[f"| {name} | {np.median(quiet[name]):.2f} | {np.median(loaded[name]):.2f} "
          f"| **{result['load_ratio'][name]:.2f}×** | {'met' if result['load_ratio'][name] <= 3 else 'not met'} |"
          for name in ("auto", "prune_advft")], "",
        "## Growth with the debiasing rows", "",
        "| rows | fit s | mask discovery s | fine-tuning s | peak added MiB |", "|---|---|---|---|---|",
        *[f"| {n:,} | {r['wall']:.1f} | {r.get('mask_discovery', 0):.1f} | {r.get('finetune', 0):.1f} "
          f"| {r['peak_added_mib']:.0f} |" for n, r in by_rows.items()],
        "", f"Fitted exponent (time ∝ rows^k): k = {result['rows_exponent']:.2f}.", "",
        "## Growth with the network's parameters (9,044 rows)", "",
        "| parameters | fit s | mask discovery s | fine-tuning s | peak added MiB |", "|---|---|---|---|---|",
        *[f"| {n:,} | {r['wall']:.1f} | {r.get('mask_discovery', 0):.1f} | {r.get('finetune', 0):.1f} "
          f"| {r['peak_added_mib']:.0f} |" for n, r in by_params.items()],
        "", f"Fitted exponent (time ∝ parameters^k): k = {result['parameters_exponent']:.2f}.", "",
        "*Peak added* is the resident memory above what the process already held when the fit "
        "began; memory that earlier fits freed is reused, so small fits after big ones show about 0.", "",
        "Throughput of `predict_proba` on 1M rows: `benchmarks/results/predict_memory.md`.", "",
    ]
    (RESULTS / "speed.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
