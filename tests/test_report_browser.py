"""The HTML report, opened in headless Chromium (Debian's package, which .ci/run installs)."""

import shutil
import subprocess

import matplotlib.image
import pytest
from sklearn.frozen import FrozenEstimator

from skfairmask import FairMaskDebiaser
from skfairmask.report import FairnessReport

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")


def _chromium(*args):
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def test_the_html_report_renders_its_tables_and_plots(biased_data, base_net, fast, tmp_path):
    X, y, A = biased_data[1]
    deb = FairMaskDebiaser(FrozenEstimator(base_net), strategy="prune", **fast).fit(X, y, sensitive=A)
    FairnessReport(deb, *biased_data[2]).save(tmp_path)
    url = (tmp_path / "report.html").as_uri()

    dom = _chromium("--dump-dom", url).stdout
    assert dom.count("<img") == 3 and dom.count("<table") >= 6
    assert 'class="verdict' in dom and dom.index("Verdict") < dom.index("Mask")

    shot = tmp_path / "screenshot.png"
    _chromium("--window-size=1200,5200", f"--screenshot={shot}", url)
    image = matplotlib.image.imread(shot)[..., :3]
    assert image.shape[:2] == (5200, 1200)
    # Tables are black on white; only the embedded plots bring colour (bars, lines).
    saturation = image.max(axis=-1) - image.min(axis=-1)
    assert (saturation > 0.3).sum() > 20_000, "the plots did not render"
    dark = image.mean(axis=-1) < 0.3
    assert dark[:600].sum() > 2_000, "the heading and tables did not render"
