"""The skfairmask command: demo, debias and report.

``skfairmask demo`` trains an unfair network on the bundled Adult data
(protected attribute: sex), debiases it on the validation split, and prints a
before/after table measured on the test split. ``skfairmask debias`` debiases
your own model on your own validation file, and ``skfairmask report`` audits a
model without changing it.
"""

import argparse
import importlib
import inspect
import os
import sys
import time
from pathlib import Path


__all__ = ["EXIT_CODES", "main"]

#: Exit codes, for scripts and CI pipelines.
EXIT_OK, EXIT_FIT_FAILED, EXIT_BAD_INPUT, EXIT_NOT_FAIR, EXIT_CONSTANT = 0, 1, 2, 3, 4
EXIT_CODES = {
    EXIT_OK: "success (debias: the model was certified fair and better than a constant prediction; "
             "report: the gate passed, or no gate was set)",
    EXIT_FIT_FAILED: "the fit failed (a loss became NaN or infinite)",
    EXIT_BAD_INPUT: "bad arguments, data or model file",
    EXIT_NOT_FAIR: "not shown fair: debias could not certify the tolerance (the model written is uncertified); "
                   "report --max-bias: the bias's upper bound reaches it",
    EXIT_CONSTANT: "debias: the only model certified fair predicts one class for everyone (fair, and useless), "
                   "and was written (--fallback surest, or no better rule looks fair on the rows)",
}
_EPILOG_CODES = "exit codes:\n" + "\n".join(f"  {code}  {meaning}" for code, meaning in EXIT_CODES.items())

_LEGEND = """Measures (test split; negative = the unprivileged group, here women, is favoured less):
  SPD  statistical parity difference: the gap in the share predicted >50K
  EOD  equal opportunity difference: the gap among those truly >50K
  AOD  average odds difference: the mean of the EOD gap and the false-positive-rate gap
  Φ    balanced accuracy if |SPD| < 0.05, else 0
The debiaser was asked for SPD. The groups' true rates differ, so equal selection rates leave
unequal true-positive rates: EOD and AOD can grow while SPD shrinks. Choose the measure that
matches the harm (see docs/guide.md)."""


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
    net = train_base_network(X_train, y_train, epochs=args.base_epochs, random_state=args.seed, verbose=1)
    base_seconds = time.perf_counter() - start

    debiaser = FairMaskDebiaser(FrozenEstimator(net), strategy=args.strategy, bias_metric="spd", epsilon=0.05,
                                random_state=args.seed, verbose=1)
    start = time.perf_counter()
    debiaser.fit(X_val, y_val, sensitive=A_val)
    debias_seconds = time.perf_counter() - start

    table = summary_table({
        "base network (threshold 0.5)": {**fairness_summary(y_test, net.predict(X_test), A_test),
                                         "seconds": base_seconds},
        f"debiased ({debiaser.strategy_})": {**fairness_summary(y_test, debiaser.predict(X_test), A_test),
                                             "seconds": debias_seconds},
    }).rename(columns={"balanced_accuracy": "bal. acc.", "phi": "Φ", "spd": "SPD", "eod": "EOD", "aod": "AOD"})
    print("\nOn the held-out test split (the debiaser saw only the validation split):\n")
    formats = {**dict.fromkeys(table.columns, "{:.3f}".format), **dict.fromkeys(("SPD", "EOD", "AOD"), "{:+.3f}".format),
               "seconds": "{:.1f}".format}
    print(table.to_string(formatters=formats))
    low, high = debiaser.bias_interval_
    certificate = debiaser.certificate_
    if certificate["rows"] == "uncertified":
        print(f"\nThe fit certified nothing on the validation split: the model is the most accurate rule whose "
              f"bound on |SPD| at {debiaser.confidence:.0%} confidence is under {debiaser.epsilon} on the "
              f"{certificate['n_rows']} rows that chose it (estimate {certificate['bias']:+.3f}, interval "
              f"{low:+.3f} to {high:+.3f} on those rows, optimistic); tolerance met: no.\n")
    else:
        print(f"\nThe fit's own certificate, from the validation split's {certificate['certified_on']}: "
              f"|SPD| < {debiaser.certified_epsilon_:.3f} with {debiaser.confidence:.0%} confidence "
              f"(estimate {certificate['bias']:+.3f}, interval {low:+.3f} to {high:+.3f}); "
              f"tolerance met: {'yes' if debiaser.tolerance_met_ else 'no'}.\n")
    print(_LEGEND)
    return EXIT_OK


def _read_table(path, target, sensitive, keep_sensitive):
    """Features, target and protected attribute from a CSV or Parquet file."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"--data {path}: no such file.")
    frame = pd.read_parquet(path) if path.suffix in (".parquet", ".pq") else pd.read_csv(path)
    missing = [c for c in (target, sensitive) if c not in frame.columns]
    if missing:
        raise ValueError(f"--data {path} has no column {missing}; its columns are {list(frame.columns)[:20]}.")
    dropped = [target] if keep_sensitive else [target, sensitive]
    return frame.drop(columns=dropped), frame[target].to_numpy(), frame[sensitive].to_numpy()


def _mlp_from_state_dict(state_dict):
    """skfairmask's base MLP with the sizes that ``state_dict`` holds."""
    from .network import make_base_module

    linear = [v for k, v in state_dict.items() if k.endswith(".weight") and v.dim() == 2]
    if not linear:
        raise ValueError("the weights file holds no Linear layer, so it is not skfairmask's base MLP; "
                         "pass --architecture package.module:factory.")
    return make_base_module(linear[0].shape[1], hidden=linear[0].shape[0], depth=len(linear) - 1)


def _factory_module(architecture, n_features):
    """The module that ``package.module:factory`` builds; the current folder is importable, as for ``python -m``."""
    module_name, _, factory_name = architecture.partition(":")
    if not factory_name:
        raise ValueError(f"--architecture {architecture!r}: expected 'mlp' or 'package.module:factory'.")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        factory = getattr(importlib.import_module(module_name), factory_name)
    except (ImportError, AttributeError) as error:
        raise ValueError(f"--architecture {architecture}: {error} (the module is imported from the current "
                         "folder or PYTHONPATH).") from error
    # A factory that takes an argument receives the input width, the number of feature columns.
    takes_width = any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
                      for p in inspect.signature(factory).parameters.values())
    return factory(n_features) if takes_width else factory()


def _load_network(args, n_features):
    """The user's network from --model, without running code unless --trust-pickle."""
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
        module = _factory_module(args.architecture, n_features)
    try:
        return load_model(path, module, trust_pickle=args.trust_pickle)
    except ValueError as error:
        hint = (" With --architecture mlp the file must hold skfairmask's base MLP; otherwise pass "
                "--architecture package.module:factory." if args.architecture == "mlp" else "")
        raise ValueError(f"{error}{hint}") from error


def _width_hint(error, keep_sensitive, sensitive, X):
    """The error, with the --keep-sensitive fix added when the network cannot take X's width."""
    if "cannot take X" not in str(error) or keep_sensitive:
        return error
    return ValueError(f"{str(error).split(':')[0]}. --data has {X.shape[1]} feature columns after dropping "
                      f"--sensitive {sensitive!r}; if the network was trained with that column as an input, "
                      "pass --keep-sensitive.")


def _debias(args):
    import pickle

    import torch
    from sklearn.model_selection import train_test_split

    from . import FairMaskDebiaser
    from .loading import save_decision_rule
    from .report import FairnessReport

    X, y, A = _read_table(args.data, args.target, args.sensitive, args.keep_sensitive)
    network = _load_network(args, X.shape[1])
    strata = [f"{a}|{label}" for a, label in zip(A, y)]
    X_fit, X_held, y_fit, y_held, A_fit, A_held = train_test_split(
        X, y, A, test_size=args.test_size, random_state=args.seed, stratify=strata)
    debiaser = FairMaskDebiaser(
        network, strategy=args.strategy, bias_metric=args.bias_metric, epsilon=args.epsilon,
        confidence=args.confidence, fallback=args.fallback, n_bootstrap=args.n_bootstrap,
        holdout_size=args.holdout_size, n_threads=args.n_threads, priv_group=_priv_group(args.priv_group, A),
        random_state=args.seed,
        verbose=int(args.verbose or sys.stderr.isatty()),  # bars on a terminal, quiet in logs
    )
    try:
        debiaser.fit(X_fit, y_fit, sensitive=A_fit)
    except ValueError as error:
        raise _width_hint(error, args.keep_sensitive, args.sensitive, X) from error
    out = Path(args.out)
    report = FairnessReport(debiaser, X_held, y_held, A_held, priv_group=debiaser.priv_group,
                            model_file=str(out / "model.pt"), data_file=f"{args.data} ({args.test_size:.0%} held out)")
    written = report.save(out)
    torch.save(debiaser.net_.module_.module.state_dict(), out / "model.pt")
    rule = save_decision_rule(debiaser, out, data=str(args.data), target=args.target, sensitive=args.sensitive,
                              keep_sensitive=args.keep_sensitive, columns=list(X.columns))
    (out / "debiaser.pkl").write_bytes(pickle.dumps(debiaser))
    print(report.measures().round(3).to_string())
    print(f"\nFigures on {len(y_held)} held-out rows ({args.test_size:.0%} of --data, never used to fit).")
    for path in [*written, out / "model.pt", rule, out / "debiaser.pkl"]:
        print(f"wrote {path}")
    return _debias_verdict(debiaser, args.allow_uncertified)


def _debias_verdict(debiaser, allow_uncertified):
    """The summary line, and the exit code that says whether the fit was certified."""
    cert = debiaser.certificate_
    where = f"with {debiaser.confidence:.0%} confidence on the {cert['certified_on']}"
    if debiaser.tolerance_met_:
        print(f"PASS: certified |{debiaser.bias_metric}| < {debiaser.certified_epsilon_:.3f} (ε = {debiaser.epsilon}) "
              f"{where}, and better than a constant prediction.")
        return EXIT_OK
    if cert["rows"] == "uncertified":
        code, line = EXIT_NOT_FAIR, (f"FAIL: no model both fair and better than a constant prediction was certified "
                                     f"with {debiaser.confidence:.0%} confidence; the model written is the most "
                                     f"accurate rule that looks fair on the {cert['certified_on']}, and nothing "
                                     "about it is certified.")
    elif cert["fair"]:
        code, line = EXIT_CONSTANT, (f"FAIL: no model better than a constant prediction was certified fair {where}; "
                                     "the model written predicts (nearly) one class for everyone.")
    else:
        code, line = EXIT_NOT_FAIR, (f"FAIL: |{debiaser.bias_metric}| < {debiaser.epsilon} could not be certified "
                                     f"{where}; the data supports ε = {debiaser.certified_epsilon_:.3f}.")
    suffix = " (--allow-uncertified: exit 0)" if allow_uncertified else f" (exit {code})"
    print(line + suffix)
    return EXIT_OK if allow_uncertified else code


def _report(args):
    import numpy as np

    from .loading import DECISION_RULE, load_decision_rule
    from .network import as_classifier
    from .report import FairnessReport

    rule_path = Path(args.rule) if args.rule else Path(args.model).parent / DECISION_RULE
    rule = load_decision_rule(rule_path) if rule_path.exists() else {}
    if args.rule and not rule_path.exists():
        raise FileNotFoundError(f"--rule {rule_path}: no such file.")
    keep = args.keep_sensitive or rule.get("keep_sensitive", False)
    X, y, A = _read_table(args.data, args.target, args.sensitive, keep)
    classes = rule.get("classes", np.unique(y).tolist())
    threshold = args.threshold if args.threshold is not None else rule.get("threshold", 0.5)
    network = _load_network(args, X.shape[1])
    try:
        model = as_classifier(network, X.shape[1], classes, threshold=threshold, input_offset=rule.get("input_offset"))
    except ValueError as error:
        raise _width_hint(error, keep, args.sensitive, X) from error
    report = FairnessReport(model, X, y, A, bias_metric=args.bias_metric, epsilon=args.epsilon,
                            confidence=args.confidence, priv_group=_priv_group(args.priv_group, A),
                            model_file=str(args.model), data_file=str(args.data))
    print(report.to_markdown())
    if args.out:
        for path in report.save(args.out):
            print(f"wrote {path}")
    return _gate(report.verdict(), args.max_bias)


def _gate(verdict, max_bias):
    """For CI pipelines: a non-zero exit when the bias's upper bound reaches ``max_bias``."""
    if max_bias is None:
        return EXIT_OK
    measure = verdict.bias_metric.upper()
    if verdict.abs_bias_bound >= max_bias:
        print(f"GATE FAILED: |{measure}| may reach {verdict.abs_bias_bound:.3f} ≥ --max-bias {max_bias} "
              f"({verdict.confidence:.0%} confidence, {verdict.n_rows} rows).")
        return EXIT_NOT_FAIR
    print(f"GATE PASSED: |{measure}| < {verdict.abs_bias_bound:.3f} < --max-bias {max_bias} "
          f"({verdict.confidence:.0%} confidence, {verdict.n_rows} rows).")
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


def _model_arguments(command):
    from .metrics import BIAS_METRICS
    from .objective import DEFAULT_CONFIDENCE

    command.add_argument("--data", required=True, help="a CSV or Parquet file, one row per person")
    command.add_argument("--target", required=True, help="the column with the label (the greater is favourable)")
    command.add_argument("--sensitive", required=True, help="the column with the protected attribute")
    command.add_argument("--priv-group", default=None, help="the protected attribute's privileged value (default: 1)")
    command.add_argument("--keep-sensitive", action="store_true",
                         help="keep --sensitive among the features, for a network trained with it as an input")
    command.add_argument("--model", required=True,
                         help="the network: a state_dict file (torch.save(module.state_dict(), path)), "
                              "or a full pickle with --trust-pickle")
    command.add_argument("--architecture", default="mlp",
                         help="for a state_dict: 'mlp' (skfairmask's base MLP, sizes read from the file) or "
                              "'package.module:factory', a function that builds the module, given the number of "
                              "feature columns if it takes an argument (imported from the current folder; its "
                              "code runs)")
    command.add_argument("--trust-pickle", action="store_true",
                         help="allow a full pickle as --model; a pickle runs code when loaded, so only for files "
                              "from a source you trust")
    command.add_argument("--bias-metric", choices=sorted(BIAS_METRICS), default="spd")
    command.add_argument("--epsilon", type=float, default=0.05, help="tolerance on |bias| (default 0.05)")
    command.add_argument("--confidence", type=float, default=DEFAULT_CONFIDENCE,
                         help=f"confidence of the bounds (default {DEFAULT_CONFIDENCE})")


def _fit_arguments(command):
    """The fit's knobs that ``debias`` exposes, beside the model's (:func:`_model_arguments`)."""
    from ._split import DEFAULT_HOLDOUT_SIZE
    from .selection import DEFAULT_FALLBACK, FALLBACKS
    from .strategies import STRATEGIES

    command.add_argument("--strategy", choices=sorted(STRATEGIES), default="auto")
    command.add_argument("--fallback", choices=FALLBACKS, default=DEFAULT_FALLBACK,
                         help="what to write where nothing useful is certified: the most accurate rule that looks "
                              "fair on the rows, or the surest, often a constant prediction (default: %(default)s)")
    command.add_argument("--n-bootstrap", type=int, default=0, help="bootstrap resamples for the bounds (0: exact)")
    command.add_argument("--holdout-size", type=float, default=DEFAULT_HOLDOUT_SIZE,
                         help="share of the fit's rows held out for choosing and certifying "
                              f"(default {DEFAULT_HOLDOUT_SIZE})")
    command.add_argument("--n-threads", type=int, default=None, help="torch threads (default: by network size)")


def _parser():
    from . import __version__
    from .strategies import STRATEGIES

    parser = argparse.ArgumentParser(prog="skfairmask",
                                     description="Debias a pre-trained PyTorch classifier without retraining it.")
    parser.add_argument("--version", action="version", version=f"skfairmask {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="debias an unfair network on the bundled Adult data and print a before/after table",
        description="Train an unfair network on the bundled Adult data (protected attribute: sex), debias it on "
                    "the validation split, and print a before/after table measured on the test split. About a "
                    "minute on a quiet 2-core machine.",
        epilog="example: skfairmask demo --seed 1 --strategy prune_advft")
    demo.add_argument("--seed", type=int, default=0, help="seeds the split, the base network and the fit")
    demo.add_argument("--strategy", choices=sorted(STRATEGIES), default="auto")
    demo.add_argument("--base-epochs", type=int, default=10, help="epochs of base-network training")
    demo.add_argument("--max-rows", type=int, default=None, help="use only the first rows (a quick look)")
    demo.set_defaults(run=_demo)

    debias = commands.add_parser(
        "debias", help="debias your model on your validation file and write the model and a report",
        description="Fit FairMaskDebiaser on --data (less a held-out share that the report is measured on) and "
                    "write the debiased model (model.pt, with decision_rule.json beside it), report.md, "
                    "report.html, the plots and metrics.json to --out.",
        epilog="example: skfairmask debias --data val.csv --target income --sensitive sex --model net.pt "
               "--out debiased/\n\n" + _EPILOG_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _model_arguments(debias)
    _fit_arguments(debias)
    debias.add_argument("--out", required=True, help="the folder to write to (created if missing)")
    debias.add_argument("--test-size", type=float, default=0.3,
                        help="share of --data held out for the report (default 0.3)")
    debias.add_argument("--seed", type=int, default=0)
    debias.add_argument("--allow-uncertified", action="store_true",
                        help="exit 0 even when the tolerance could not be certified")
    debias.add_argument("--verbose", action="store_true", help="show progress bars even when not on a terminal")
    debias.set_defaults(run=_debias)

    report = commands.add_parser(
        "report", help="audit a model's fairness on a file, without changing the model",
        description="Measure a model on --data: a verdict at a confidence, per-group rates with intervals, a "
                    "proxy audit; print it as Markdown, and with --out also write report.html, the plots and "
                    "metrics.json. A decision_rule.json beside --model (written by debias) gives the threshold "
                    "and the rest of the decision rule.",
        epilog="example: skfairmask report --data test.csv --target income --sensitive sex --model debiased/model.pt "
               "--max-bias 0.05\n\n" + _EPILOG_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _model_arguments(report)
    report.add_argument("--threshold", type=float, default=None,
                        help="decision threshold (default: the decision rule's, else 0.5)")
    report.add_argument("--rule", default=None, help="the decision rule file (default: decision_rule.json beside --model)")
    report.add_argument("--max-bias", type=float, default=None,
                        help="a gate for CI: exit 3 when the upper bound on |bias| at --confidence reaches this")
    report.add_argument("--out", default=None, help="also write the report files to this folder")
    report.set_defaults(run=_report)
    return parser


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
        message = " ".join(str(error).split())  # one line
        if isinstance(error, UntrustedModelError):
            message = message.replace("trust_pickle=True (on the command line, --trust-pickle)", "--trust-pickle")
        print(f"skfairmask {args.command}: error: {message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except FloatingPointError as error:
        print(f"skfairmask {args.command}: the fit failed: {error}", file=sys.stderr)
        return EXIT_FIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
