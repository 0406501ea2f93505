"""The code on the documentation pages runs as written."""

import re
from pathlib import Path

import pytest
import sklearn

DOCS = Path(__file__).parent.parent / "docs"


def python_blocks(page):
    """The ```python blocks of a Markdown page, in order."""
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), flags=re.DOTALL)


@pytest.mark.filterwarnings("ignore:No threshold kept")  # small folds may miss the tolerance
@pytest.mark.parametrize("page", ["getting_started.md", "tuning.md", "report.md", "images.md"])
def test_every_code_block_runs_in_order(page, capsys):
    blocks = python_blocks(page)
    assert blocks, f"{page} has no code to run"
    namespace = {}
    with sklearn.config_context():  # the page turns routing on; restore the config after
        for number, block in enumerate(blocks, 1):
            try:
                exec(compile(block, f"{page}, block {number}", "exec"), namespace)
            except Exception as error:
                raise AssertionError(f"{page}, code block {number} failed: {error!r}\n{block}") from error


def test_the_documentation_site_builds_offline_without_warnings(tmp_path):
    from sphinx.cmd.build import build_main

    code = build_main(["-W", "--keep-going", "-q", "-b", "html", "-d", str(tmp_path / "doctrees"),
                       str(DOCS), str(tmp_path / "html")])
    assert code == 0, "sphinx reported warnings (run: python -m sphinx -W -b html docs docs/_build/html)"
    for page in ("index.html", "getting_started.html", "strategies.html", "api.html",
                 "generated/skfairmask.FairMaskDebiaser.html", "benchmarks.html"):
        assert (tmp_path / "html" / page).exists(), page
