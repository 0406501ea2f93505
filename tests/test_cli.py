import subprocess
import sys

import pytest

from skfairmask.cli import main


def test_demo_prints_before_and_after_on_test(capsys):
    assert main(["demo", "--max-rows", "3000", "--base-epochs", "2", "--strategy", "prune"]) == 0
    out = capsys.readouterr().out
    assert "held-out test split" in out
    assert "base network (threshold 0.5)" in out and "debiased (prune)" in out
    for column in ("bal. acc.", "spd", "eod", "aod", "Φ (SPD, ε=0.05)", "pruned", "seconds"):
        assert column in out


def test_version_and_help():
    result = subprocess.run([sys.executable, "-m", "skfairmask", "--version"], capture_output=True, text=True)
    assert result.returncode == 0 and result.stdout.startswith("skfairmask ")
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--help"])
    assert exit_info.value.code == 0


def test_unknown_strategy_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["demo", "--strategy", "magic"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.fixture
def user_files(tmp_path, biased_data, base_net):
    """A validation CSV with string labels and groups, and the network's state_dict, as a user has them."""
    import numpy as np
    import pandas as pd
    import torch

    X, y, A = biased_data[1]
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    frame["approved"] = np.where(y == 1, "yes", "no")
    frame["sex"] = np.where(A == 1, "male", "female")
    frame.to_csv(tmp_path / "validation.csv", index=False)
    torch.save(base_net.module_.state_dict(), tmp_path / "net.pt")
    return tmp_path


def _common(folder, model="net.pt"):
    return ["--data", str(folder / "validation.csv"), "--target", "approved", "--sensitive", "sex",
            "--priv-group", "male", "--model", str(folder / model)]


def test_debias_writes_model_report_plots_and_metrics(user_files, capsys):
    import json

    import matplotlib.image
    import torch

    from skfairmask.network import make_base_module

    out = user_files / "out"
    code = main(["debias", *_common(user_files), "--strategy", "prune", "--out", str(out), "--seed", "0"])
    assert code == 0
    assert "held-out rows" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["measures"]) == {"base network", "debiased"}
    assert {"phi", "spd", "balanced_accuracy"} <= set(metrics["measures"]["debiased"])
    assert abs(metrics["measures"]["debiased"]["spd"]) < abs(metrics["measures"]["base network"]["spd"])
    html = (out / "report.html").read_text()
    assert html.count("<table") >= 3 and html.count('src="data:image/png;base64,') == 3
    assert "## Per group" in (out / "report.md").read_text()
    for name in ("group_rates", "mask_by_layer", "mask_history"):
        image = matplotlib.image.imread(out / f"{name}.png")
        assert image.shape[0] > 200 and image.shape[1] > 300
        assert image[..., :3].std() > 0.05, f"{name}.png is blank"
    # The debiased weights load back into the same architecture.
    module = make_base_module(8)
    module.load_state_dict(torch.load(out / "model.pt", weights_only=True))


def test_report_audits_without_changing_the_model(user_files, capsys):
    before = (user_files / "net.pt").read_bytes()
    assert main(["report", *_common(user_files)]) == 0
    out = capsys.readouterr().out
    assert "# Fairness report" in out and "privileged (male)" in out and "unprivileged (female)" in out
    assert (user_files / "net.pt").read_bytes() == before


def test_a_pickled_model_needs_trust_pickle(user_files, base_net, capsys):
    import torch

    marker = user_files / "code-ran"

    class RunsCode:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save(RunsCode(), user_files / "evil.pt")
    assert main(["report", *_common(user_files, "evil.pt")]) == 2
    assert "--trust-pickle" in capsys.readouterr().err
    assert not marker.exists()
    torch.save(base_net.module_, user_files / "full.pt")
    assert main(["report", *_common(user_files, "full.pt")]) == 2
    assert main(["report", *_common(user_files, "full.pt"), "--trust-pickle"]) == 0


def test_bad_input_exits_2_with_a_message(user_files, capsys):
    assert main(["report", *_common(user_files)[:-1], str(user_files / "missing.pt")]) == 2
    assert "no such file" in capsys.readouterr().err
    args = _common(user_files)
    args[args.index("approved")] = "nope"
    assert main(["report", *args]) == 2
    assert "has no column ['nope']" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["debias", "report"])
def test_every_subcommand_has_help_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    help_text = capsys.readouterr().out
    assert "example: skfairmask " + command in help_text and "exit codes" in help_text


def test_architecture_names_a_factory_for_other_networks(user_files, monkeypatch):
    (user_files / "my_models.py").write_text(
        "from skfairmask.network import make_base_module\n\n"
        "def build():\n    return make_base_module(8)\n"
    )
    monkeypatch.syspath_prepend(str(user_files))
    assert main(["report", *_common(user_files), "--architecture", "my_models:build"]) == 0


def test_an_unknown_architecture_is_named(user_files, capsys):
    assert main(["report", *_common(user_files), "--architecture", "no_such_package:build"]) == 2
    assert "--architecture no_such_package:build" in capsys.readouterr().err
