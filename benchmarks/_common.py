"""What the benchmark scripts share: the datasets by name and the kept base networks."""

import argparse
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from skfairmask.datasets import load_adult, load_compas, load_german, protocol_split
from skfairmask.metrics import BIAS_METRICS
from skfairmask.network import train_base_network

HERE = Path(__file__).parent
CACHE, RESULTS, NETWORKS = HERE / "cache", HERE / "results", HERE / "networks"
LOADERS = {"adult": load_adult, "compas": load_compas, "german": load_german}
#: The studies of how a fit certifies (which rule to keep, on how many rows, at what confidence, with which
#: ladder) pin what a fit that certifies nothing hands back to the surest rule it tried, often a constant, as
#: every fit did before ``FairMaskDebiaser``'s ``fallback`` existed: they compare certifications, and their
#: stored results were produced that way. ``quality.py``, ``uncertified.py`` and ``proxies.py`` fit the default.
CERTIFICATION_ONLY = {"fallback": "surest"}
#: What a table of such a study says of it, under its title.
CERTIFICATION_ONLY_NOTE = ("Its fits that certify nothing hand back the surest rule they tried, often a constant "
                           "prediction (`fallback=\"surest\"`, what every fit did before the fallback existed); "
                           "the default hands back the most accurate rule under the bound instead (`quality.md`, "
                           "`uncertified.md`).")
#: How a table names each dataset.
DATASET_NAMES = {"adult": "Adult", "compas": "COMPAS", "german": "German"}

#: The two protocols: ``aware`` keeps the protected attribute among the features, as AIF360 prepares
#: the data; ``unaware`` drops its column before anything is trained (fairness through unawareness).
PROTOCOLS = ("aware", "unaware")


def load(dataset, protected, protocol="aware"):
    """``(X, y, A)`` of a dataset under a protocol (see :data:`PROTOCOLS`)."""
    X, y, A = LOADERS[dataset](protected)
    if protocol == "unaware":
        X = X.drop(columns=[protected])
    elif protocol != "aware":
        raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}.")
    return X, y, A

#: Base networks train for at least this many Adam steps (batches of 64). Ten
#: epochs are 4,200 steps on Adult but 580 on COMPAS, which left COMPAS's
#: network underfit (test balanced accuracy 0.56 against 0.67 at 40 epochs).
BASE_STEPS = 2500
BASE_BATCH = 64


def base_network(split, dataset, protected, seed, protocol="aware"):
    """The DESIGN §3 base network of one dataset, attribute, seed and protocol (see :func:`kept_network`)."""
    suffix = "" if protocol == "aware" else f"_{protocol}"
    return kept_network(f"{dataset}_{protected}_seed{seed}{suffix}", split, seed)


def kept_network(name, split, seed):
    """A base network trained on ``split.train`` once, its weights kept as ``NETWORKS/<name>.pt``.

    It trains for 10 epochs, or for ``BASE_STEPS`` steps where 10 epochs make fewer. :data:`NETWORKS`
    is committed: training gives slightly different weights on different processors, and a
    benchmark's runs are only paired with each other (and with the committed results) on the same
    networks.
    """
    path = NETWORKS / f"{name}.pt"
    X, y = split.train[:2]
    if path.exists():
        net = train_base_network(X, y, epochs=0, batch_size=BASE_BATCH, random_state=seed)  # untrained shell
        net.module_.load_state_dict(torch.load(path))
        return net
    epochs = max(10, math.ceil(BASE_STEPS / math.ceil(len(y) / BASE_BATCH)))
    net = train_base_network(X, y, epochs=epochs, batch_size=BASE_BATCH, random_state=seed)
    NETWORKS.mkdir(exist_ok=True)
    torch.save(net.module_.state_dict(), path)
    return net


def each_cell(cells, protocol="aware"):
    """``(cell, dataset, attribute, metric, (X, y, A))`` for each name ``dataset:attribute:metric``."""
    for cell in cells:
        dataset, protected, metric = cell.split(":")
        yield cell, dataset, protected, metric, load(dataset, protected, protocol)


def run_file(folder, cell, seed, prefix=""):
    """Where a resumable benchmark stores one (cell, seed): ``folder/<prefix><cell with _>_seed<seed>.json``."""
    return folder / f"{prefix}{cell.replace(':', '_')}_seed{seed}.json"


#: The seeds of the studies that compare variants of the default on quality.py's cells (pick.py,
#: holdout.py, ladder.py): more Adult seeds than quality.py's five, since their paired gaps are small.
VARIANT_SEEDS = {"adult": range(15), "compas": range(10), "german": range(10)}


def variant_seeds(seeds=None):
    """Each dataset's seeds for :func:`collect_variants`: :data:`VARIANT_SEEDS`, or ``seeds`` for every one."""
    return VARIANT_SEEDS if seeds is None else dict.fromkeys(VARIANT_SEEDS, seeds)


def collect_variants(folder, done, protocol, cells, seeds, fits):
    """Fit the variants missing from each (cell, seed) under ``protocol``, storing each (cell, seed) as it ends.

    Parameters
    ----------
    folder : Path
        Where :func:`run_file` stores each (cell, seed), prefixed by the protocol.
    done : dict
        ``{(protocol, cell, seed): {key: record}}``, what is stored already (:func:`stored_variants`).
    protocol : str
        One of :data:`PROTOCOLS`.
    cells : iterable of str
        Names ``dataset:attribute:metric``.
    seeds : dict of str to iterable of int
        Each dataset's seeds: the split's and the base network's.
    fits : dict of str to callable
        Each variant's key → ``fit(net, split, metric, seed)``, which returns the variant's record
        (a dict with ``"phi"`` among its figures).
    """
    folder.mkdir(parents=True, exist_ok=True)
    for cell, dataset, protected, metric, (X, y, A) in each_cell(cells, protocol):
        for seed in seeds[dataset]:
            runs = done.get((protocol, cell, seed), {})
            missing = [key for key in fits if key not in runs]
            if not missing:
                continue
            split = protocol_split(X, y, A, random_state=seed)
            net = base_network(split, dataset, protected, seed, protocol)
            for key in missing:
                runs[key] = fits[key](net, split, metric, seed)
            run_file(folder, cell, seed, prefix=f"{protocol}_").write_text(json.dumps(runs, indent=1))
            figures = ", ".join(f"{key} Φ {run['phi']:.3f}" for key, run in runs.items())
            print(f"{protocol}/{cell}|{seed}: {figures}", flush=True)


def stored_runs(folder, prefix=""):
    """``(cell, seed, stored JSON)`` of every run file :func:`run_file` wrote under ``folder``."""
    for path in sorted(folder.glob(f"{prefix}*_seed*.json")) if folder.exists() else []:
        stem, seed = path.stem.removeprefix(prefix).rsplit("_seed", 1)
        yield stem.replace("_", ":"), int(seed), json.loads(path.read_text())


def stored_variants(name, runs, variant="variant"):
    """Every stored (protocol, cell, seed) of a benchmark that fits variants on the cells of ``quality.py``.

    Returns ``{(protocol, cell, seed): {variant: record}}``: the committed ``RESULTS/<name>.json`` (one
    record per fit, its variant under the key ``variant``), then the run files :func:`run_file` wrote under
    ``runs``, which replace the committed records of their (protocol, cell, seed).
    """
    path = RESULTS / f"{name}.json"
    stored = {}
    for record in json.loads(path.read_text()) if path.exists() else []:
        stored.setdefault((record["protocol"], record["cell"], record["seed"]), {})[str(record[variant])] = record
    for protocol in PROTOCOLS:
        for cell, seed, fits in stored_runs(runs, prefix=f"{protocol}_"):
            stored[protocol, cell, seed] = fits
    return stored


#: Where a fit certified (``Certificate.rows``), in the words of the tables.
CERTIFIED_ON = {"safety": "safety rows", "all": "every row", "base_rate": "base rate",
                "true_positive_rate": "true positive rate"}


def certified_rows(record):
    """Where a stored fit of pick.py or holdout.py certified: a key of :data:`CERTIFIED_ON` (``Certificate.rows``).

    Records stored before the uniform band carry no ``"rows"``: every fit then certified on its safety
    rows. These two scripts keep such records only for the unaware protocol, where the band never applies
    (it needs the attribute's column); every aware fit was rerun and carries its route. Do not use this on
    records of other scripts, whose newer fits may lack ``"rows"`` too.
    """
    return record.get("rows", "safety")


def variants_frame(stored, figures, variant="variant"):
    """One row per fit of :func:`stored_variants`: its protocol, cell, dataset, seed, variant and ``figures``."""
    return pd.DataFrame([{"protocol": protocol, "cell": cell, "dataset": cell.split(":")[0], "seed": seed,
                          variant: name, **{key: fit[key] for key in figures}}
                         for (protocol, cell, seed), fits in stored.items() for name, fit in fits.items()])


def label_rows(y, label):
    """The rows of one label, or all rows for None: a ``BiasMeasure`` term's label."""
    return np.ones(len(y), dtype=bool) if label is None else y == label


def bias_variance(favourable, y, groups, metric):
    """The binomial variance of a rule's bias estimated on these rows (groups coded 0/1).

    ``Σ weight² · p (1 − p) / n`` over the measure's (group, label) cells
    (``BIAS_METRICS[metric].terms``), ``p`` the cell's share predicted
    favourable and ``n`` its rows: how far the estimate of a rule with
    these rates strays by the rows' noise alone.
    """
    favourable = np.asarray(favourable, dtype=float)
    variance = 0.0
    for group in (0, 1):
        for label, weight in BIAS_METRICS[metric].terms:
            cell = (groups == group) & label_rows(y, label)
            share = favourable[cell].mean()
            variance += weight**2 * share * (1 - share) / cell.sum()
    return float(variance)


def paired_gap(part, default, keys=("cell", "seed")):
    """A variant's per-run Φ gap to the default, runs indexed by ``keys``: mean ± SE (wins / losses)."""
    gap = (part.set_index(list(keys)).phi - default).dropna()
    spread = gap.std(ddof=1) / np.sqrt(len(gap)) if len(gap) > 1 else 0.0
    return f"{gap.mean():+.3f} ± {spread:.3f} ({(gap > 1e-9).sum()} / {(gap < -1e-9).sum()})"


def run_figures(part):
    """Table cells for some fits: ``runs | mean test Φ (fair, constant) | certified | BA of the fair runs``."""
    return (f"{len(part)} | {part.phi.mean():.3f} ({part.fair.mean():.0%}, {part.constant.mean():.0%}) "
            f"| {part.tolerance_met.mean():.0%} | {part[part.fair].balanced_accuracy.mean():.3f}")


def runs_frame(runs, label):
    """One row per stored run keyed ``cell|seed|name``, the name in column ``label``.

    The bias column holds the measure the cell is about.
    """
    records = []
    for key, result in runs.items():
        cell, seed, name = key.split("|")
        records.append({"cell": cell, "seed": int(seed), label: name, "phi": result["phi"],
                        "balanced_accuracy": result["balanced_accuracy"], "bias": result[cell.split(":")[2]],
                        "pruning_rate": result.get("pruning_rate", np.nan),
                        "fit_seconds": result.get("fit_seconds", np.nan)})
    return pd.DataFrame(records)


def mean_std(values, digits=3):
    """``mean ± std`` of the non-missing values (std 0 for one value), or "" if there are none."""
    values = values.dropna()
    if values.empty:
        return ""
    spread = values.std(ddof=1) if len(values) > 1 else 0.0
    return f"{values.mean():.{digits}f} ± {spread:.{digits}f}"


def write_results(name, data, table):
    """Write ``results/<name>.json`` (the frame's records) and ``results/<name>.md``, and print the table."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(data.to_json(orient="records", indent=1))
    (RESULTS / f"{name}.md").write_text(table)
    print(table)


def collect_then_report(doc, collect, report, **options):
    """The command line of a resumable benchmark: collect the missing runs, unless ``--report``, then report.

    Each keyword names a flag (``cells=dict(nargs="+", default=CELLS)`` gives ``--cells``) with the keywords
    of its ``add_argument``; ``collect`` receives the flags' values by those names.
    """
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for name, argument in options.items():
        parser.add_argument(f"--{name}", **argument)
    parser.add_argument("--report", action="store_true", help="only write the tables")
    args = vars(parser.parse_args())
    if not args.pop("report"):
        collect(**args)
    report()
