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
