"""Does a run's test Φ depend on torch's thread count? skfairmask runs refitted at 1 and 2 threads.

With another number of threads, torch sums floats in another order, so two
fits from the same seed can differ in their last bits, and 16 epochs of
fine-tuning can grow that difference. ``quality.py`` does not fix the thread
count: its runs were made with 2 threads, or with 1 where two cells ran side
by side. This script refits one skfairmask method of ``quality.json`` (the
default strategy unless ``--method`` names another) on every (cell, seed)
where it ran, at a given thread count, then reports for each method refitted:

* how far test Φ moves between 1 and 2 threads, and how many runs change
  from fair to unfair on test or back;
* whether every committed run equals one of its two refits,
  which is what reproducing ``quality.json`` from the committed code means.

Run each thread count as its own process (they may run side by side; timing
is not measured), then the report::

    python benchmarks/thread_sensitivity.py --threads 1
    python benchmarks/thread_sensitivity.py --threads 2
    python benchmarks/thread_sensitivity.py --threads 1 --method skfairmask:prune_advft@n_bootstrap=50
    python benchmarks/thread_sensitivity.py --threads 2 --method skfairmask:prune_advft@n_bootstrap=50
    python benchmarks/thread_sensitivity.py --report

Writes benchmarks/results/thread_sensitivity.md and .json.
"""

import argparse
import json
import warnings

import pandas as pd
import torch

from skfairmask.datasets import protocol_split

from _common import CACHE, LOADERS, RESULTS, base_network
from quality import CELLS, DEFAULT, EPSILON, RUNS_JSON, run

THREADS = (1, 2)
RUNS = CACHE / "threads"


def _runs_path(method, threads):
    return RUNS / f"{method.removeprefix('skfairmask:')}_threads{threads}.json"


def _committed_runs(method):
    """The committed runs of ``method`` in quality.json, keyed ``cell|seed``."""
    committed = json.loads(RUNS_JSON.read_text())
    return {key.rsplit("|", 1)[0]: result for key, result in committed.items()
            if key.rsplit("|", 1)[1] == method}


def refit(method, threads):
    """Refit ``method`` on every committed (cell, seed) at ``threads`` threads; resumable."""
    torch.set_num_threads(threads)
    RUNS.mkdir(parents=True, exist_ok=True)
    path = _runs_path(method, threads)
    done = json.loads(path.read_text()) if path.exists() else {}

    def cell_and_seed(key):
        cell, seed = key.split("|")
        return CELLS.index(cell), int(seed)

    for key in sorted(_committed_runs(method), key=cell_and_seed):
        if key in done:
            continue
        cell, seed = key.split("|")
        dataset, protected, _ = cell.split(":")
        split = protocol_split(*LOADERS[dataset](protected), random_state=int(seed))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            net = base_network(split, dataset, protected, int(seed))
            done[key] = run(cell, int(seed), method, split, net)
        path.write_text(json.dumps(done, indent=1))
        print(f"{method}, {threads} threads, {key}: Φ {done[key]['phi']:.3f}", flush=True)


def _same(a, b):
    """Whether two runs have the same test figures (fit time aside)."""
    return all(a[k] == b[k] for k in a if k not in ("fit_seconds", "torch_threads"))


def compare(method):
    """One row per (cell, seed) where ``method`` was refitted at both thread counts."""
    committed = _committed_runs(method)
    refits = {t: json.loads(_runs_path(method, t).read_text()) for t in THREADS}
    rows = []
    for key in sorted(set(refits[1]) & set(refits[2])):
        cell, seed = key.split("|")
        one, two = refits[1][key], refits[2][key]
        metric = cell.split(":")[2]
        rows.append({"method": method, "cell": cell, "dataset": cell.split(":")[0], "seed": int(seed),
                     "phi_1": one["phi"], "phi_2": two["phi"], "identical": _same(one, two),
                     "fair_1": abs(one[metric]) < EPSILON, "fair_2": abs(two[metric]) < EPSILON,
                     "committed_is": "1 thread" if _same(committed[key], one)
                     else "2 threads" if _same(committed[key], two) else "neither"})
    return pd.DataFrame(rows)


def _method_lines(data):
    lines = ["| dataset | runs | identical at 1 and 2 threads | mean Φ, 1 thread | mean Φ, 2 threads "
             "| mean abs(ΔΦ) | largest abs(ΔΦ) | fair on test at one count only |",
             "|---|---|---|---|---|---|---|---|"]
    for dataset, part in [*data.groupby("dataset", sort=False), ("all", data)]:
        delta = (part.phi_1 - part.phi_2).abs()
        lines.append(f"| {dataset} | {len(part)} | {part.identical.sum()} | {part.phi_1.mean():.3f} "
                     f"| {part.phi_2.mean():.3f} | {delta.mean():.3f} | {delta.max():.3f} "
                     f"| {(part.fair_1 != part.fair_2).sum()} |")
    counts = data.committed_is.value_counts()
    lines += ["", "Each committed run in `quality.json` against its two refits: "
              + ", ".join(f"equal to the {name} refit: {counts.get(name, 0)}"
                          for name in ("1 thread", "2 threads"))
              + f"; equal to neither: {counts.get('neither', 0)} (of {len(data)}). A run equal to both "
              "counts as 1 thread.", ""]
    return lines


def markdown(frames):
    lines = ["# Test Φ at 1 and 2 torch threads (every cell and seed of `quality.md`)", "",
             "Produced by `python benchmarks/thread_sensitivity.py`. The same method, seed, split and base "
             "network, refitted with `torch.set_num_threads(1)` and `(2)`; only the order of float sums "
             "differs. Where Φ moves between the two, the difference is noise of the same kind as a change "
             "of seed: a verdict in `quality.md` should not rest on less than it.", ""]
    for data in frames:
        lines += [f"## `{data.method.iloc[0]}`", "", *_method_lines(data)]
    return "\n".join(lines)


def report():
    """Tables for every method refitted at both thread counts."""
    methods = [f"skfairmask:{path.name.removesuffix('_threads1.json')}"
               for path in RUNS.glob("*_threads1.json")]
    frames = [compare(method) for method in methods if _runs_path(method, 2).exists()]
    # The default first, then the others by name.
    frames.sort(key=lambda data: (data.method.iloc[0] != DEFAULT, data.method.iloc[0]))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "thread_sensitivity.json").write_text(pd.concat(frames).to_json(orient="records", indent=1))
    table = markdown(frames)
    (RESULTS / "thread_sensitivity.md").write_text(table)
    print(table)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, choices=THREADS, help="refit at this many torch threads")
    parser.add_argument("--method", default=DEFAULT, help="a skfairmask method of quality.json")
    parser.add_argument("--report", action="store_true", help="only write the tables")
    args = parser.parse_args()
    if args.report:
        report()
    elif args.threads is None:
        parser.error("give --threads 1 or --threads 2, or --report")
    else:
        refit(args.method, args.threads)


if __name__ == "__main__":
    main()
