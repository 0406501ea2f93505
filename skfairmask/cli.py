"""The ``skfairmask`` command.

``skfairmask demo`` is the main job: it trains the DESIGN §3 base network on the
bundled Adult data (protected attribute: sex), debiases it on the validation
split, and prints a before/after table measured on the test split.

``skfairmask debias`` debiases your own model on your own validation file, and
``skfairmask report`` audits a model without changing it.

Exit codes: 0 success; 1 the fit failed (for example, a loss became NaN);
2 bad arguments, data or model file (including a pickle that was not trusted).
"""

import argparse
import sys
import time
from pathlib import Path

from tqdm.auto import tqdm

__all__ = ["main"]


def _demo(args):
    from sklearn.frozen import FrozenEstimator

    from . import FairMaskDebiaser
    from .datasets import load_adult, protocol_split
    from .network import train_base_network
    from .report import fairness_summary, summary_table

    print("Loading Adult (protected attribute: sex) from the bundled raw files...", flush=True)
    X, y, A = load_adult("sex")
    if args.max_rows:
        X, y, A = X.iloc[: args.max_rows], y.iloc[: args.max_rows], A.iloc[: args.max_rows]
    split = protocol_split(X, y, A, random_state=args.seed)
    (X_train, y_train, _), (X_val, y_val, A_val), (X_test, y_test, A_test) = split.train, split.validation, split.test
    print(f"Split 60/20/20: {len(y_train)} train, {len(y_val)} validation, {len(y_test)} test rows.")

    start = time.perf_counter()
    with tqdm(total=args.base_epochs, desc="base network", dynamic_ncols=True) as bar:
        net = train_base_network(X_train, y_train, epochs=args.base_epochs, random_state=args.seed, progress=bar)
    base_seconds = time.perf_counter() - start

    debiaser = FairMaskDebiaser(
        FrozenEstimator(net), strategy=args.strategy, bias_metric="spd", epsilon=0.05,
        random_state=args.seed, verbose=1,
    )
    start = time.perf_counter()
    debiaser.fit(X_val, y_val, sensitive=A_val)
    debias_seconds = time.perf_counter() - start

    table = summary_table({
        "base network (threshold 0.5)": {
            **fairness_summary(y_test, net.predict(X_test), A_test),
            "pruned": 0.0, "seconds": base_seconds,
        },
        f"debiased ({args.strategy})": {
            **fairness_summary(y_test, debiaser.predict(X_test), A_test),
            "pruned": debiaser.pruning_rate_, "seconds": debias_seconds,
        },
    }).rename(columns={"balanced_accuracy": "bal. acc.", "phi": "Φ (SPD, ε=0.05)"})
    print("\nOn the held-out test split (the debiaser saw only the validation split):\n")
    signed = {column: "{:+.3f}".format for column in ("spd", "eod", "aod")}
    formats = {**dict.fromkeys(table.columns, "{:.3f}".format), **signed,
               "pruned": "{:.1%}".format, "seconds": "{:.1f}".format}
    print(table.to_string(formatters=formats))
    print(
        f"\nseconds: base network = training; debiased = mask discovery "
        f"{debiaser.timings_.get('mask_discovery', 0):.1f} + fine-tuning "
        f"{debiaser.timings_.get('finetune', 0):.1f} + threshold and set-up."
    )
    return 0


#: Exit codes, for scripts.
EXIT_OK, EXIT_FIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _read_table(path, target, sensitive):
    """Features, target and protected attribute from a CSV or Parquet file."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"--data {path}: no such file.")
    frame = pd.read_parquet(path) if path.suffix in (".parquet", ".pq") else pd.read_csv(path)
    missing = [c for c in (target, sensitive) if c not in frame.columns]
    if missing:
        raise ValueError(f"--data {path} has no column {missing}; its columns are {list(frame.columns)[:20]}.")
    return frame.drop(columns=[target, sensitive]), frame[target].to_numpy(), frame[sensitive].to_numpy()


def _mlp_from_state_dict(state_dict):
    """skfairmask's base MLP with the sizes that ``state_dict`` holds."""
    from .network import make_base_module

    linear = [v for k, v in state_dict.items() if k.endswith(".weight") and v.dim() == 2]
    if not linear:
        raise ValueError("the weights file holds no Linear layer, so it is not skfairmask's base MLP.")
    return make_base_module(linear[0].shape[1], hidden=linear[0].shape[0], depth=len(linear) - 1)


def _load_network(args):
    """The user's network from --model, without running code unless --trust-pickle."""
    import importlib
    import pickle

    import torch

    from .loading import load_model

    path = Path(args.model)
    if not path.exists():
        raise FileNotFoundError(f"--model {path}: no such file.")
    if args.architecture == "mlp":
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError):  # a full pickle: refused, or loaded if trusted
            return load_model(path, trust_pickle=args.trust_pickle)
        if not isinstance(state, dict):
            raise ValueError(f"--model {path} holds a {type(state).__name__}, not a state_dict.")
        module = _mlp_from_state_dict(state)
    else:
        # Importing the named module runs its code: that is what --architecture asks for.
        module_name, _, factory = args.architecture.partition(":")
        try:
            module = getattr(importlib.import_module(module_name), factory)()
        except (ImportError, AttributeError) as error:
            raise ValueError(f"--architecture {args.architecture}: {error}") from error
    try:
        return load_model(path, module, trust_pickle=args.trust_pickle)
    except ValueError as error:
        raise ValueError(f"{error} With --architecture mlp the file must hold skfairmask's base MLP; "
                         "otherwise pass --architecture package.module:factory.") from error


def _debias(args):
    import pickle

    import torch
    from sklearn.model_selection import train_test_split

    from . import FairMaskDebiaser
    from .report import FairnessReport

    X, y, A = _read_table(args.data, args.target, args.sensitive)
    network = _load_network(args)
    strata = [f"{a}|{label}" for a, label in zip(A, y)]
    X_fit, X_held, y_fit, y_held, A_fit, A_held = train_test_split(
        X, y, A, test_size=args.test_size, random_state=args.seed, stratify=strata)
    debiaser = FairMaskDebiaser(
        network, strategy=args.strategy, bias_metric=args.bias_metric, epsilon=args.epsilon,
        priv_group=_priv_group(args.priv_group, A), random_state=args.seed,
        verbose=int(args.verbose or sys.stderr.isatty()),  # bars on a terminal, quiet in logs
    )
    debiaser.fit(X_fit, y_fit, sensitive=A_fit)
    out = Path(args.out)
    report = FairnessReport(debiaser, X_held, y_held, A_held, priv_group=debiaser.priv_group)
    written = report.save(out)
    torch.save(debiaser.net_.module_.module.state_dict(), out / "model.pt")
    (out / "debiaser.pkl").write_bytes(pickle.dumps(debiaser))
    print(report.measures().round(3).to_string())
    print(f"\nFigures on {len(y_held)} held-out rows ({args.test_size:.0%} of --data, never used to fit).")
    for path in [*written, out / "model.pt", out / "debiaser.pkl"]:
        print(f"wrote {path}")
    return EXIT_OK


def _report(args):
    import numpy as np

    from .network import resolve_network, to_skorch
    from .report import FairnessReport, ThresholdClassifier

    X, y, A = _read_table(args.data, args.target, args.sensitive)
    network = resolve_network(_load_network(args), X.shape[1])
    model = ThresholdClassifier(to_skorch(network), np.unique(y), threshold=args.threshold)
    report = FairnessReport(model, X, y, A, bias_metric=args.bias_metric, epsilon=args.epsilon,
                            priv_group=_priv_group(args.priv_group, A))
    print(report.to_markdown())
    if args.out:
        for path in report.save(args.out):
            print(f"wrote {path}")
    return EXIT_OK


def _priv_group(value, sensitive):
    """--priv-group in the attribute's own type: "1" means the number 1 for a numeric column."""
    import numpy as np

    if value is None:
        return 1
    values = np.asarray(sensitive)
    if values.dtype.kind in "iufb":
        try:
            return values.dtype.type(float(value)).item()
        except ValueError:
            raise ValueError(f"--priv-group {value!r}: the column {values.dtype} holds numbers.") from None
    return value


def _parser():
    from . import __version__
    from .metrics import BIAS_METRICS
    from .strategies import STRATEGIES

    parser = argparse.ArgumentParser(
        prog="skfairmask",
        description="Debias a pre-trained PyTorch classifier without retraining it.",
    )
    parser.add_argument("--version", action="version", version=f"skfairmask {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        help="debias an unfair network on the bundled Adult data and print a before/after table",
        description=__doc__.split("\n\n")[1],
        epilog="example: skfairmask demo --seed 1 --strategy prune",
    )
    demo.add_argument("--seed", type=int, default=0, help="seeds the split, the base network and the fit")
    demo.add_argument("--strategy", choices=sorted(STRATEGIES), default="auto")
    demo.add_argument("--base-epochs", type=int, default=10, help="epochs of base-network training")
    demo.add_argument("--max-rows", type=int, default=None, help="use only the first rows (a quick look)")
    demo.set_defaults(run=_demo)

    def model_arguments(command):
        command.add_argument("--data", required=True, help="a CSV or Parquet file, one row per person")
        command.add_argument("--target", required=True, help="the column with the label")
        command.add_argument("--sensitive", required=True, help="the column with the protected attribute")
        command.add_argument("--priv-group", default=None,
                             help="the protected attribute's privileged value (default: 1)")
        command.add_argument("--model", required=True,
                             help="the network: a state_dict file (torch.save(module.state_dict(), path)), "
                                  "or a full pickle with --trust-pickle")
        command.add_argument("--architecture", default="mlp",
                             help="for a state_dict: 'mlp' (skfairmask's base MLP, sizes read from the "
                                  "file) or 'package.module:factory', a function that builds the module "
                                  "(its code is imported and run)")
        command.add_argument("--trust-pickle", action="store_true",
                             help="allow a full pickle as --model; a pickle runs code when loaded, so "
                                  "only for files from a source you trust")
        command.add_argument("--bias-metric", choices=sorted(BIAS_METRICS), default="spd")
        command.add_argument("--epsilon", type=float, default=0.05, help="tolerance on |bias| for Φ")

    debias = commands.add_parser(
        "debias", help="debias your model on your validation file and write the model and a report",
        description="Fit FairMaskDebiaser on --data (less a held-out share that the report is "
                    "measured on) and write the debiased model, report.md, report.html, the plots "
                    "and metrics.json to --out.",
        epilog="example: skfairmask debias --data val.csv --target income --sensitive sex "
               "--model net.pt --out debiased/\n\n" + _EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    model_arguments(debias)
    debias.add_argument("--strategy", choices=sorted(STRATEGIES), default="auto")
    debias.add_argument("--out", required=True, help="the folder to write to (created if missing)")
    debias.add_argument("--test-size", type=float, default=0.3,
                        help="share of --data held out for the report (default 0.3)")
    debias.add_argument("--seed", type=int, default=0)
    debias.add_argument("--verbose", action="store_true", help="show progress bars even when not on a terminal")
    debias.set_defaults(run=_debias)

    report = commands.add_parser(
        "report", help="audit a model's fairness on a file, without changing the model",
        description="Measure a model's per-group rates, SPD, EOD, AOD and Φ on --data and print "
                    "them as Markdown; with --out, also write report.html, the plots and metrics.json.",
        epilog="example: skfairmask report --data test.csv --target income --sensitive sex "
               "--model net.pt\n\n" + _EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    model_arguments(report)
    report.add_argument("--threshold", type=float, default=0.5, help="decision threshold (default 0.5)")
    report.add_argument("--out", default=None, help="also write the report files to this folder")
    report.set_defaults(run=_report)
    return parser


_EXIT_CODES = "exit codes: 0 success; 1 the fit failed; 2 bad arguments, data or model file"


def main(argv=None):
    """Run the command line; returns the exit code.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; ``sys.argv[1:]`` by default.
    """
    from .loading import UntrustedModelError

    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except (UntrustedModelError, ValueError, TypeError, FileNotFoundError) as error:
        message = str(error)
        if isinstance(error, UntrustedModelError):
            message = message.replace("trust_pickle=True (on the command line, --trust-pickle)", "--trust-pickle")
        print(f"skfairmask {args.command}: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except FloatingPointError as error:
        print(f"skfairmask {args.command}: the fit failed: {error}", file=sys.stderr)
        return EXIT_FIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
