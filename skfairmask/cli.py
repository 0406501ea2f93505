"""The ``skfairmask`` command.

``skfairmask demo`` is the main job: it trains the DESIGN §3 base network on the
bundled Adult data (protected attribute: sex), debiases it on the validation
split, and prints a before/after table measured on the test split.
"""

import argparse
import sys
import time

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


def _parser():
    from . import __version__
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
    demo.add_argument("--strategy", choices=sorted(STRATEGIES), default="prune_advft")
    demo.add_argument("--base-epochs", type=int, default=10, help="epochs of base-network training")
    demo.add_argument("--max-rows", type=int, default=None, help="use only the first rows (a quick look)")
    demo.set_defaults(run=_demo)
    return parser


def main(argv=None):
    """Run the command line; returns the exit code.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; ``sys.argv[1:]`` by default.
    """
    args = _parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
