"""The fairness objective: Φ with a stated confidence, and every choice made by it.

Φ is the balanced accuracy of a model if ``|bias| < epsilon``, else 0. A
model's bias is only ever *estimated*, on a few hundred or thousand rows, so
a choice that keeps the estimate under ``epsilon`` can still break it on new
data, and the more candidates are compared, the likelier the winner's
estimate is luckily low. :class:`FairnessObjective` holds the rule once:

* **bounds** — each candidate's ``|bias|`` gets an upper confidence bound at
  ``confidence`` (exact intervals on the group rates combined by MOVER, or
  bootstrap percentiles), and its balanced accuracy a lower one;
* **ranking** — candidates are compared by their balanced accuracy when
  their bound, as it is *predicted* for the safety rows, is under
  ``epsilon``, and otherwise by how close that bound comes (:attr:`Evaluation.rank`);
* **certification** — the final rule is tested on safety rows that no
  choice has read (:meth:`certify`): the candidates, ordered on the
  selection rows from the surest to the most accurate, are tested in that
  fixed sequence, each at the full level, until one fails (Learn-then-Test's
  fixed-sequence procedure). With probability at least ``confidence`` none
  of the candidates certified this way is unfair, so the most accurate of
  them is fair with that confidence, however many were compared. Where the
  selection rows' estimates may lean toward fairness together (an offset
  that reads proxies), two sequences share the error, each at half of it
  (:meth:`certify_hedged`);
* **a uniform band** — where every candidate is a threshold per group on
  one score that learnt nothing from the rows (the ``offset`` edit when the
  protected attribute is a column of ``X``), a band around each group's
  distribution of that score holds for all candidates at once
  (:meth:`uniform_widths`). The choice can then read every row and needs no
  safety rows (:meth:`certify_uniform`); it is used where that band is
  narrower than ``epsilon``, which the row counts alone decide.

Epoch selection, the final threshold, the search strategies, the scorers,
the report and the plots all call it.
"""

from dataclasses import dataclass, replace
from numbers import Real

import numpy as np
from scipy.stats import norm

from ._bounds import band_half_width, combine_intervals, exact_interval
from .metrics import check_bias_metric, coded_arrays, is_multiclass
from .threshold import (
    CellCounts,
    candidate_thresholds,
    is_constant,
    prediction_counts,
    resample_weights,
    threshold_counts,
)

__all__ = ["Certificate", "DEFAULT_CONFIDENCE", "Evaluation", "FairnessObjective", "phi_score"]

#: The confidence a user gets without asking: of the levels of benchmarks/confidence.py that kept at least
#: 95% of runs fair on test on every dataset and protocol, the one with the highest mean test Φ
#: (docs/method.md §6). Higher levels kept the same share fair and ended more fits lower on the ladder;
#: lower ones (0.60, 0.70) passed more rules but not better ones, and lost a little on COMPAS.
DEFAULT_CONFIDENCE = 0.80

#: Rungs of the certification ladder by the bound: the most accurate candidate whose bound, predicted
#: for the safety rows, is under each share of ``epsilon`` (see FairnessObjective._sequence).
BOUND_SHARES = (0.0, 0.2, 0.35, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 1.0)

#: Rungs by the risk: the most accurate candidate whose predicted chance of passing the safety test
#: (FairnessObjective.pass_chance) is at least each level. Dense near 1, where bounds much narrower than
#: ``epsilon`` leave the shares coarse.
PASS_CHANCES = (1.0, 0.999, 0.995, 0.99, 0.98, 0.97, 0.95, 0.93, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5)

#: The ladders the certification sequence merges: ``"bound"`` (BOUND_SHARES) and ``"chance"``
#: (PASS_CHANCES). Both: on benchmarks/ladder.py's paired runs at the default confidence, no other
#: ladder beat them beyond noise; the shares alone lost on aware Adult, the chances alone on unaware Adult
#: (docs/method.md §6).
LADDERS = ("bound", "chance")

#: How far the hedged sequence (FairnessObjective.certify_hedged) moves each estimate toward the
#: network's bias: one standard error of that estimate. On benchmarks/proxy_choice.py's unaware Adult
#: fits two lost 0.004 ± 0.006 per run to one and left 3% of the sex EOD and AOD fits unfair on test:
#: the moved sequence then climbs rules that overcorrect (docs/method.md §6).
HEDGE_STANDARD_ERRORS = 1.0


@dataclass(frozen=True)
class Evaluation:
    """Point estimates and confidence bounds of a set of candidate rules on some rows.

    Every array has one entry per candidate.

    Attributes
    ----------
    balanced_accuracy, ba_lower, ba_upper : ndarray
    bias, bias_lower, bias_upper : ndarray
        The signed bias (NaN where a needed cell has no rows) and its bounds.
    abs_bias_upper : ndarray
        The upper bound on ``|bias|`` at the objective's confidence.
    constant : ndarray of bool
        Rules that predict one class on any rows (exactly fair, never better than chance).
    chance : float
        The balanced accuracy of a constant prediction: ``1 / n_classes``.
    epsilon : float
    n_rows : int
        The rows the candidates were evaluated on.
    """

    balanced_accuracy: np.ndarray
    ba_lower: np.ndarray
    ba_upper: np.ndarray
    bias: np.ndarray
    bias_lower: np.ndarray
    bias_upper: np.ndarray
    abs_bias_upper: np.ndarray
    constant: np.ndarray
    chance: float
    epsilon: float
    n_rows: int = 0

    @property
    def fair(self):
        """Whether each candidate's bound on ``|bias|`` is under ``epsilon``."""
        return self.abs_bias_upper < self.epsilon

    @property
    def better_than_constant(self):
        """Whether each candidate's balanced accuracy is above a constant prediction's, with confidence."""
        return self.ba_lower > self.chance

    @property
    def rank(self):
        """What candidates are compared by: balanced accuracy where fair, else ``-|bias|`` bound.

        Every fair candidate ranks above every unfair one; among unfair
        candidates, the one whose bound comes closest to the tolerance ranks
        first. Evaluated with ``future_ratio``, the bounds are the ones a
        safety test is expected to give: the estimate with the width of a
        bound on as many rows as the safety rows hold. The estimate of the
        best of many candidates is optimistic; the certification's ladder
        (:meth:`FairnessObjective.certify`) keeps a lucky estimate from
        costing the fit its certificate.
        """
        return np.where(self.fair, self.balanced_accuracy, -self.abs_bias_upper)

    def __len__(self):
        return len(self.balanced_accuracy)

    @classmethod
    def concatenate(cls, evaluations):
        """One evaluation holding the candidates of several, in order (same rows count, chance and epsilon)."""
        first = evaluations[0]
        return cls(**{name: np.concatenate([getattr(e, name) for e in evaluations]) for name in _ARRAYS},
                   chance=first.chance, epsilon=first.epsilon, n_rows=first.n_rows)

    def __getitem__(self, index):
        return Evaluation(**{name: getattr(self, name)[index] for name in _ARRAYS},
                          chance=self.chance, epsilon=self.epsilon, n_rows=self.n_rows)


_ARRAYS = ("balanced_accuracy", "ba_lower", "ba_upper", "bias", "bias_lower", "bias_upper", "abs_bias_upper",
           "constant")


@dataclass(frozen=True)
class Certificate:
    """What the safety rows say of the rule :meth:`FairnessObjective.certify` chose.

    Attributes
    ----------
    index : int
        The chosen candidate's position in the candidate list.
    tolerance_met : bool
        Certified fair at ``epsilon`` with the confidence, and better than a
        constant prediction with the same confidence.
    fair : bool
        Certified fair (the bound on ``|bias|`` is under ``epsilon``).
    better_than_constant : bool
        The lower bound on balanced accuracy is above chance.
    constant : bool
        The rule predicts one class for everyone: what is returned when no
        better rule could be certified.
    certified_epsilon : float
        The smallest tolerance at which the sequential test on the safety
        rows reaches and passes this rule: the largest bound on ``|bias|``
        along the sequence up to it. Infinite for a rule certified nowhere
        (``rows="uncertified"``).
    bias, bias_interval : float, tuple of float
        The safety rows' bias estimate and its two-sided interval at the
        confidence (at half the error where two sequences shared it,
        :meth:`FairnessObjective.certify_hedged`).
    balanced_accuracy, ba_interval : float, tuple of float
    n_rows : int
        The certifying rows (see ``rows``).
    n_tested, n_certified : int
        Candidates tested (in sequence, or all of them under a uniform
        band), and how many passed.
    confidence, epsilon : float
    rows : {"safety", "all", "base_rate", "true_positive_rate", "quantiles", "uncertified"}, default="safety"
        Which rows certified it: the safety rows, after a choice made on the
        others; every row, under a band that holds for all candidates at
        once (:meth:`FairnessObjective.certify_uniform`); every row, at
        one quantile of which, near the labels' base rate, each group's
        threshold sits (:func:`~skfairmask.selection.base_rate_selection`);
        every row, at one quantile of whose favourable-labelled rows, near
        the network's own true positive rate, each group's threshold sits
        (:func:`~skfairmask.selection.true_positive_rate_selection`);
        or the training and safety rows, at whose quantiles the rule's
        thresholds sit (:func:`~skfairmask.selection.quantile_selection`).
        ``"uncertified"``: no rule was certified, and this one was chosen on
        the rows that measure it
        (:func:`~skfairmask.selection.most_accurate_uncertified`); its
        intervals are those rows' own, and optimistic.
    """

    index: int
    tolerance_met: bool
    fair: bool
    better_than_constant: bool
    constant: bool
    certified_epsilon: float
    bias: float
    bias_interval: tuple
    balanced_accuracy: float
    ba_interval: tuple
    n_rows: int
    n_tested: int
    n_certified: int
    confidence: float
    epsilon: float
    rows: str = "safety"

    @property
    def rows_described(self):
        """The certifying rows, in words, for messages and reports."""
        if self.rows == "all":
            return f"{self.n_rows} rows given to fit (under a band that holds for every candidate at once)"
        if self.rows == "base_rate":
            return (f"{self.n_rows} rows given to fit (each group's threshold at one favourable share, near the "
                    "labels' base rate)")
        if self.rows == "true_positive_rate":
            return (f"{self.n_rows} rows given to fit (each group's threshold at one true positive rate, near "
                    "the network's own)")
        if self.rows == "quantiles":
            return f"{self.n_rows} training and safety rows (at whose quantiles each group's threshold sits)"
        if self.rows == "uncertified":
            return f"{self.n_rows} rows that also chose it (uncertified)"
        return f"{self.n_rows} safety rows"

    @property
    def phi(self):
        """Φ on the safety rows at the point estimates: balanced accuracy if ``|bias| < epsilon``."""
        return self.balanced_accuracy if abs(self.bias) < self.epsilon else 0.0

    def summary(self):
        """The certificate as a plain dict (for ``decision_rule.json`` and fitted attributes).

        ``certified_epsilon`` is None where it is infinite (nothing was
        certified): JSON has no infinity.
        """
        return {
            "tolerance_met": self.tolerance_met, "fair": self.fair,
            "better_than_constant": self.better_than_constant, "constant": self.constant,
            "certified_epsilon": self.certified_epsilon if np.isfinite(self.certified_epsilon) else None,
            "epsilon": self.epsilon,
            "confidence": self.confidence, "bias": self.bias, "bias_interval": list(self.bias_interval),
            "balanced_accuracy": self.balanced_accuracy, "ba_interval": list(self.ba_interval),
            "n_rows": self.n_rows, "n_tested": self.n_tested, "n_certified": self.n_certified,
            "rows": self.rows, "certified_on": self.rows_described,
        }


def check_confidence(confidence):
    """Return ``confidence`` if it is None or in (0, 1); raise a ValueError naming it otherwise."""
    if confidence is not None and not (isinstance(confidence, Real) and 0 < confidence < 1):
        raise ValueError(f"confidence must be in (0, 1) or None, got {confidence!r}.")
    return confidence


@dataclass(frozen=True)
class FairnessObjective:
    """Φ at a stated confidence: how candidates are scored, ranked and certified.

    Parameters
    ----------
    bias_metric : str, default="spd"
        A key of :data:`skfairmask.metrics.BIAS_METRICS`.
    epsilon : float, default=0.05
        The tolerance on ``|bias|``.
    confidence : float or None, default=DEFAULT_CONFIDENCE
        ``1 - δ``: the chance, over the rows the choice is made on, that a
        rule reported fair is fair on the population they come from. None
        uses the estimates as their own bounds (plain Φ).
    n_bootstrap : int, default=0
        0 for analytic bounds (exact intervals on the rates, combined by
        MOVER); a positive number for bootstrap percentile bounds over that
        many resamples.
    threshold : "tune" or float, default="tune"
        How a binary network's scores become decisions: the threshold is
        chosen among candidates, or fixed. A multi-class network predicts
        its most probable class.
    random_state : int, default=0
        Seeds the bootstrap resamples (the same resamples for every candidate).
    """

    bias_metric: str = "spd"
    epsilon: float = 0.05
    confidence: float = DEFAULT_CONFIDENCE
    n_bootstrap: int = 0
    threshold: object = "tune"
    random_state: int = 0

    def __post_init__(self):
        check_bias_metric(self.bias_metric)
        check_confidence(self.confidence)

    @property
    def measure(self):
        """The :class:`~skfairmask.metrics.BiasMeasure` of ``bias_metric``."""
        return check_bias_metric(self.bias_metric)

    # ----- candidates -----------------------------------------------------------------------------

    def thresholds_for(self, proba):
        """The candidate thresholds of each score vector: tuned candidates, or the fixed threshold.

        Parameters
        ----------
        proba : ndarray of shape (m, n)

        Returns
        -------
        ndarray of shape (m, k)
        """
        proba = np.atleast_2d(proba)
        if self.threshold != "tune":
            return np.full((len(proba), 1), float(self.threshold))
        rows = [candidate_thresholds(p) for p in proba]
        width = max(len(r) for r in rows)
        # Pad with the last threshold so that every family has k candidates.
        return np.stack([np.concatenate([r, np.full(width - len(r), r[-1])]) for r in rows])

    def evaluate(self, y, proba, sensitive, thresholds=None, *, future_ratio=None):
        """Evaluate threshold rules on a binary model's scores.

        Parameters
        ----------
        y : ndarray of shape (n,)
            Labels coded 0/1.
        proba : ndarray of shape (n,) or (m, n)
            Favourable-class probabilities: one vector, or one per member of a
            family of networks.
        sensitive : ndarray of shape (n,) or (n, n_groups)
            0/1 (1 privileged) or one-hot groups.
        thresholds : ndarray of shape (m, k), optional
            Binary only; :meth:`thresholds_for` of ``proba`` if omitted.
        future_ratio : float, optional
            Predict the bounds that a test on ``future_ratio`` times as many
            fresh rows would give (see :attr:`Evaluation.rank`).

        Returns
        -------
        Evaluation
            Candidates flattened in (family member, threshold) order.
        """
        y, proba = np.asarray(y), np.atleast_2d(np.asarray(proba, dtype=float))
        groups, n_groups = _groups(sensitive)
        thresholds = self.thresholds_for(proba) if thresholds is None else np.atleast_2d(thresholds)

        def counts(weights):
            c = threshold_counts(proba, thresholds, y, groups, n_groups, weights)
            lead = c.positive.shape[:-4]
            return CellCounts(c.positive.reshape(*lead, -1, n_groups, 2), c.total.reshape(*lead, 1, n_groups, 2))

        return self._evaluate_binary(counts, len(y), future_ratio, constant=is_constant(thresholds).reshape(-1))

    def evaluate_classes(self, y, proba, sensitive, *, future_ratio=None):
        """Evaluate a multi-class model's most-probable-class rule (one candidate).

        Parameters
        ----------
        y : ndarray of shape (n,)
            Class codes 0..k-1.
        proba : ndarray of shape (n, k)
        sensitive : ndarray of shape (n,)
            The two domains, coded 0/1.
        future_ratio : float, optional
            As in :meth:`evaluate`.

        Returns
        -------
        Evaluation
        """
        proba = np.asarray(proba)
        groups, n_groups = _groups(sensitive)
        return self._evaluate_classes(y, proba.argmax(1), proba.shape[1], groups, n_groups, future_ratio)

    def evaluate_predictions(self, y, predictions, sensitive, *, n_classes=2):
        """Evaluate hard predictions: a stack of 0/1 rules (c, n), or one vector of class codes.

        Parameters
        ----------
        y : ndarray of shape (n,)
            Class codes.
        predictions : ndarray of shape (c, n) or (n,)
            0/1 predictions (binary), or class codes (``n_classes > 2``).
        sensitive : ndarray of shape (n,) or (n, n_groups)
        n_classes : int, default=2

        Returns
        -------
        Evaluation
        """
        y, predictions = np.asarray(y), np.asarray(predictions)
        groups, n_groups = _groups(sensitive)
        if n_classes > 2:
            return self._evaluate_classes(y, predictions.reshape(-1).astype(int), n_classes, groups, n_groups,
                                          None)
        stack = np.atleast_2d(predictions).astype(float)
        return self._evaluate_binary(lambda w: prediction_counts(stack, y, groups, n_groups, w), len(y), None)

    # ----- ranking and certification --------------------------------------------------------------

    def certify(self, selection, safety, future_ratio=None):
        """Choose and certify a rule: fixed-sequence tests on the safety rows, ordered on the selection rows.

        Parameters
        ----------
        selection : Evaluation
            The candidates on the selection rows, with bounds predicted for
            the safety rows (``future_ratio``).
        safety : Evaluation
            The same candidates on the safety rows, which no choice has read.
        future_ratio : float or ndarray of shape (n_candidates,), optional
            The ratio ``selection`` was evaluated with (one per candidate
            where candidates were read on different rows). Given, each
            certified candidate's chance of fairness is read from both
            rows' estimates of its bias (:meth:`pooled`); otherwise from the
            safety rows' alone. Which rule is kept changes; what is certified
            does not.

        Returns
        -------
        Certificate
            For the certified candidate with the highest expected Φ
            (:meth:`_best_certified`); for the first of the sequence if none
            was certified.
        """
        return self._certify([self._sequence(selection)], selection, safety, self.confidence,
                             self._reading(selection, safety, future_ratio))

    def certify_hedged(self, selection, leaning, safety):
        """Choose and certify a rule on two fixed sequences, ordered on the selection rows and on ``leaning``.

        Where the rules that look fair on the selection rows may share one
        error on new rows (an output offset whose ``g`` is a proxy fitted
        to some of those rows), the top rungs of :meth:`certify`'s sequence
        fail together and the fit keeps a rung far below them. A second
        sequence, ordered on estimates moved toward the network's bias
        (:meth:`leaning`), climbs rules that correct more, and is tested on
        the same safety rows. Each sequence errs with chance at most this
        objective's ``δ``, so every rule that either certifies is fair with
        confidence ``1 − 2δ`` (the union bound), which the certificate
        states: evaluate every candidate at :meth:`halved` of the confidence
        to be stated, and call this on that objective. The rule kept is the
        one of highest expected Φ among those either sequence certified.

        Parameters
        ----------
        selection, leaning : Evaluation
            The candidates on the selection rows, with bounds predicted for
            the safety rows (``future_ratio``); ``leaning`` moved as
            :meth:`leaning` moves them.
        safety : Evaluation
            The same candidates on the safety rows, which no choice has read.
            The kept rule is chosen on them alone: where the offset reads
            proxies the selection rows' estimates lean toward fairness, and
            pooled (:meth:`pooled`) they would be trusted.

        Returns
        -------
        Certificate
            As :meth:`certify`'s, at confidence ``1 − 2δ``; ``certified_epsilon``
            is read along the sequence that reached the rule with the smaller
            bounds.
        """
        sequences = [self._sequence(selection), self._sequence(leaning)]
        return self._certify(sequences, selection, safety, 1 - 2 * (1 - self.confidence),
                             self._reading(selection, safety, None))

    def halved(self):
        """This objective at half its error ``δ``: two tests at it hold together at the original confidence.

        Returns
        -------
        FairnessObjective
        """
        return replace(self, confidence=1 - (1 - self.confidence) / 2)

    def leaning(self, selection, future_ratio):
        """The selection estimates moved toward the network's bias by their own standard error.

        The network's bias is read as the sign of the most accurate
        candidate's estimate. Each estimate moves by
        :data:`HEDGE_STANDARD_ERRORS` of its own standard error
        on the rows it was read on: the width of its bound on that side (the
        bound predicted for ``future_ratio`` times as many rows) over the
        normal quantile of the confidence, times ``sqrt(future_ratio)``.
        Bounds move with it; constant rules are exactly fair and stay.

        Parameters
        ----------
        selection : Evaluation
        future_ratio : float
            The ratio ``selection`` was evaluated with.

        Returns
        -------
        Evaluation
        """
        accuracy = np.nan_to_num(selection.balanced_accuracy, nan=-np.inf)
        bias, lower, upper = _interval(selection)
        side = np.sign(bias[int(np.argmax(accuracy))])
        width = np.where(side > 0, upper - bias, bias - lower)
        move = side * HEDGE_STANDARD_ERRORS * _standard_error(width, self.confidence) * np.sqrt(future_ratio)
        move = np.where(selection.constant, 0.0, move)
        return replace(selection, bias=selection.bias + move, bias_lower=selection.bias_lower + move,
                       bias_upper=selection.bias_upper + move,
                       abs_bias_upper=np.where(selection.constant, selection.abs_bias_upper,
                                               np.maximum(upper + move, -(lower + move))))

    def _certify(self, sequences, selection, safety, confidence, reading):
        """Test each sequence on the safety rows up to its first failure; keep the best rule any certified.

        ``reading`` is what the kept rule is chosen on (:meth:`_reading`); the tests read ``safety`` alone.
        """
        passed = [safety.abs_bias_upper[sequence] < self.epsilon for sequence in sequences]
        n_passed = [int(np.argmin(p)) if not p.all() else len(p) for p in passed]
        # In sequence order, the first sequence's first: ties in expected Φ go to the rung tested first.
        certified = np.asarray(list(dict.fromkeys(int(c) for sequence, n in zip(sequences, n_passed)
                                                  for c in sequence[:n])), dtype=int)
        fair = len(certified) > 0
        index = self._best_certified(certified, selection, reading) if fair else int(sequences[0][0])
        # The tolerance the rule is certified at: the largest bound along a sequence up to it, the smaller
        # of the sequences that reached it (or the first rung's own bound where nothing passed).
        certified_epsilon = min(float(np.max(safety.abs_bias_upper[sequence[: position + 1]]))
                                for sequence, n in zip(sequences, n_passed)
                                for position in np.flatnonzero(sequence[: max(n, 1)] == index))
        n_tested = len({int(c) for sequence, n in zip(sequences, n_passed) for c in sequence[: n + 1]})
        chosen = safety[index]
        return Certificate(
            index=index, tolerance_met=bool(fair and chosen.better_than_constant),
            fair=bool(fair), better_than_constant=bool(chosen.better_than_constant),
            constant=bool(chosen.constant), certified_epsilon=certified_epsilon,
            bias=float(chosen.bias), bias_interval=(float(chosen.bias_lower), float(chosen.bias_upper)),
            balanced_accuracy=float(chosen.balanced_accuracy),
            ba_interval=(float(chosen.ba_lower), float(chosen.ba_upper)),
            n_rows=safety.n_rows, n_tested=n_tested,
            n_certified=len(certified), confidence=confidence, epsilon=self.epsilon,
        )

    def uniform_widths(self, y, sensitive):
        """Half-widths of bands on the bias and on balanced accuracy that hold for every per-group threshold rule.

        A rule that predicts favourable above one threshold per group, on a
        score that learnt nothing from these rows, has as each group's rate
        that group's share of scores above its threshold. A band around each
        (group, label) cell's distribution of scores
        (:func:`~skfairmask._bounds.band_half_width`) bounds those shares at
        every threshold at once, so the bias of every such rule is within the
        sum of its cells' widths, weighted as the measure weighs them, with
        the confidence; ``δ`` is shared equally among the cells. Balanced
        accuracy's band reads, among the rows of each label, each group's
        share of rows scored above its threshold (four bands at ``δ / 4``).

        Parameters
        ----------
        y : ndarray of shape (n,)
            Labels coded 0/1.
        sensitive : ndarray of shape (n,)
            Two groups coded 0/1.

        Returns
        -------
        bias_width, ba_width : float
            Infinite where a cell has no rows.
        """
        delta = 1 - self.confidence
        y, sensitive = np.asarray(y), np.asarray(sensitive)
        terms = self.measure.terms
        in_cell = [((sensitive == group) & ((y == label) if label is not None else True), abs(weight))
                   for label, weight in terms for group in (0, 1)]
        bias_width = sum(weight * float(band_half_width(rows.sum(), delta / len(in_cell)))
                         for rows, weight in in_cell)
        ba_width = sum(float(band_half_width((y == label).sum(), delta / 4)) for label in (1, 0))
        return bias_width, ba_width

    def certify_uniform(self, evaluation, widths):
        """Choose and certify a rule on every row, under bands that hold for all candidates at once.

        Valid only where every candidate is a threshold per group on one
        score that learnt nothing from these rows (:meth:`uniform_widths`):
        every candidate whose bias estimate is inside ``epsilon`` by more
        than the band is then fair with the confidence, all of them jointly,
        and the most accurate of them is kept.

        Parameters
        ----------
        evaluation : Evaluation
            The candidates' estimates on every row (their bounds are not read).
        widths : tuple of float
            :meth:`uniform_widths` of the same rows.

        Returns
        -------
        Certificate
            For the most accurate certified candidate that predicts both
            classes; for the candidate with the smallest bound (a constant
            one, which is exactly fair) if there is none.
        """
        bias_width, ba_width = widths
        bound = np.where(evaluation.constant, 0.0, np.abs(np.nan_to_num(evaluation.bias, nan=np.inf)) + bias_width)
        passed = bound < self.epsilon
        useful = passed & ~evaluation.constant
        accuracy = np.nan_to_num(evaluation.balanced_accuracy, nan=-np.inf)
        index = int(np.flatnonzero(useful)[np.argmax(accuracy[useful])]) if useful.any() else int(np.argmin(bound))
        constant = bool(evaluation.constant[index])
        bias_spread, ba_spread = (0.0, 0.0) if constant else (bias_width, ba_width)
        bias, balanced = float(evaluation.bias[index]), float(evaluation.balanced_accuracy[index])
        better = bool(balanced - ba_spread > evaluation.chance) and not constant
        fair = bool(passed[index])
        return Certificate(
            index=index, tolerance_met=fair and better, fair=fair, better_than_constant=better, constant=constant,
            certified_epsilon=float(bound[index]), bias=bias, bias_interval=(bias - bias_spread, bias + bias_spread),
            balanced_accuracy=balanced, ba_interval=(balanced - ba_spread, balanced + ba_spread),
            n_rows=evaluation.n_rows, n_tested=len(evaluation), n_certified=int(passed.sum()),
            confidence=self.confidence, epsilon=self.epsilon, rows="all",
        )

    def _reading(self, selection, safety, future_ratio):
        """What the kept rule is chosen on: the safety rows, their biases pooled with the selection's where
        the ratio is known."""
        return safety if future_ratio is None else self.pooled(selection, safety, future_ratio)

    def pooled(self, selection, safety, future_ratio):
        """The safety rows' evaluation, each bias read from its two independent estimates pooled.

        A candidate's bias is estimated on the selection rows and again on
        the safety rows, which share no row. Each estimate's standard error
        is half its interval's width over the normal quantile of the
        confidence (the selection's bounds were predicted for the safety
        rows, so its own error is ``sqrt(future_ratio)`` times that), and the
        two are averaged by their inverse variances: the pooled estimate's
        error is smaller than either's. Only
        the bias and its bounds change; balanced accuracy stays the safety
        rows'. No test reads the pooled bounds: they choose among rules
        already certified.

        Parameters
        ----------
        selection : Evaluation
            The candidates on the selection rows, evaluated with
            ``future_ratio``.
        safety : Evaluation
            The same candidates on the safety rows.
        future_ratio : float or ndarray of shape (n_candidates,)

        Returns
        -------
        Evaluation
            ``safety`` itself without a confidence above one half (no error
            to read).
        """
        if self.confidence is None or self.confidence <= 0.5:
            return safety
        readings = []
        for evaluation, scale in ((selection, np.sqrt(future_ratio)), (safety, 1.0)):
            bias, lower, upper = _interval(evaluation)
            error = _standard_error((upper - lower) / 2, self.confidence) * scale
            readings.append((bias, error ** -2.0))
        (selection_bias, selection_weight), (safety_bias, safety_weight) = readings
        weight = selection_weight + safety_weight
        bias = (selection_bias * selection_weight + safety_bias * safety_weight) / weight
        half_width = norm.ppf(self.confidence) / np.sqrt(weight)
        return replace(safety, bias=bias, bias_lower=bias - half_width, bias_upper=bias + half_width,
                       abs_bias_upper=np.where(np.isfinite(safety.abs_bias_upper), np.abs(bias) + half_width,
                                               safety.abs_bias_upper))

    def _best_certified(self, certified, selection, safety):
        """The certified candidate whose Φ on new rows is highest in expectation, read on ``safety``.

        Every candidate the sequence certified is fair with the stated
        confidence jointly, so choosing among them, even on the safety rows,
        keeps the promise. The most accurate of them often sits just under
        the tolerance, where a new sample's bias crosses it and Φ falls to 0;
        one a little less accurate, with its bias near 0, is then worth more.
        So each is worth its balanced accuracy times :meth:`fair_chance`, both
        read on ``safety``: the safety rows, which no choice has read, with
        the biases pooled with the selection rows' where :meth:`certify` was
        given the ratio (:meth:`pooled`). A constant prediction is kept only
        when nothing else was certified: it is fair and useless.
        ``selection`` is not read; it is there for variants that choose on it
        (``benchmarks/pick.py``).
        """
        value = np.nan_to_num(safety.balanced_accuracy[certified]) * self.fair_chance(safety[certified])
        constant = safety.constant[certified]
        if not constant.all():
            value = np.where(constant, -np.inf, value)
        return int(certified[np.argmax(value)])

    def fair_chance(self, evaluation):
        """Each candidate's chance that its ``|bias|`` on the population is under ``epsilon``.

        Read from the estimate and its bounds as from a normal estimate: on
        each side, the distance to the bound over the normal quantile of the
        confidence is one standard error (the two sides apart, as in
        :meth:`pass_chance`). A constant prediction is fair surely; without
        a confidence above one half there is no error to read, and a
        candidate is fair exactly when its estimate is under ``epsilon``.

        Parameters
        ----------
        evaluation : Evaluation

        Returns
        -------
        ndarray of shape (n_candidates,)
        """
        bias, lower, upper = _interval(evaluation)
        if self.confidence is None or self.confidence <= 0.5:
            chance = (np.abs(bias) < self.epsilon).astype(float)
        else:
            above, below = (_standard_error(width, self.confidence) for width in (upper - bias, bias - lower))
            chance = norm.cdf((self.epsilon - bias) / above) - norm.cdf((-self.epsilon - bias) / below)
        measurable = np.isfinite(evaluation.abs_bias_upper) & ~np.isnan(evaluation.bias)
        return np.where(evaluation.constant, 1.0, np.where(measurable, chance, 0.0))

    def _sequence(self, selection):
        """The candidates to test, from the surest to the most accurate, in order of selection accuracy.

        The rungs of every ladder of :data:`LADDERS` are merged. On each
        ladder, a rung is the most accurate candidate on the selection rows
        under a limit, and a rung that adds no accuracy over the one below
        is left out, since testing it could only end the sequence early.
        ``"bound"`` limits the bound predicted for the safety rows to shares
        of ``epsilon`` (:data:`BOUND_SHARES`), evenly spaced in the bound;
        ``"chance"`` limits the predicted chance of passing
        (:meth:`pass_chance`, :data:`PASS_CHANCES`), evenly spaced in the
        risk of failing, which is finer where the bounds are far narrower
        than the tolerance. The best candidate of the selection rows (the
        top rung) may owe its place to a lucky estimate and fail on the
        safety rows; the rungs below it are surer, so the fit then keeps the
        best of them instead of nothing.
        """
        accuracy = np.nan_to_num(selection.balanced_accuracy, nan=-np.inf)
        rungs = np.unique([rung for ladder in LADDERS
                           for rung in _ladder(accuracy, self._allowed(ladder, selection))]).astype(int)
        if len(rungs) == 0:  # nothing under any limit: the surest candidate alone
            return np.asarray([int(np.argmin(selection.abs_bias_upper))])
        return rungs[np.lexsort((selection.abs_bias_upper[rungs], accuracy[rungs]))]

    def _allowed(self, ladder, selection):
        """Each rung's allowed candidates on one ladder of :data:`LADDERS`, from the surest rung up."""
        if ladder == "bound":
            return [selection.abs_bias_upper <= share * self.epsilon for share in BOUND_SHARES]
        chance = self.pass_chance(selection)
        return [chance >= level for level in PASS_CHANCES]

    def pass_chance(self, selection):
        """Each candidate's chance of passing the safety test, predicted from its selection-row evaluation.

        ``selection`` holds bounds predicted for the safety rows
        (``future_ratio``), so on each side of the estimate the distance to
        its bound is the width the safety bound will have there, and that
        width over the normal quantile of the confidence is the standard
        error of one estimate. The safety estimate differs from the
        selection one by two independent errors of that size (the
        selection's own, scaled to the safety rows, and the safety's): by
        ``sqrt(2)`` standard errors. The two sides
        are read apart because a bias near a rate of 0 or 1 has a bound much
        narrower on one side than on the other. A rule that predicts one
        class passes surely; one whose bias cannot be measured never does.
        Without a confidence above one half the bounds carry no error to
        read, and a candidate passes exactly when its bound is under
        ``epsilon``.

        Parameters
        ----------
        selection : Evaluation

        Returns
        -------
        ndarray of shape (n_candidates,)
        """
        bound = selection.abs_bias_upper
        if self.confidence is None or self.confidence <= 0.5:
            return np.where(bound < self.epsilon, 1.0, 0.0)
        bias, lower, upper = _interval(selection)
        chance = (_side_chance(self.epsilon - upper, upper - bias, self.confidence)
                  * _side_chance(self.epsilon + lower, bias - lower, self.confidence))
        chance = np.where(np.isfinite(bound), chance, 0.0)
        return np.where(selection.constant & (bound < self.epsilon), 1.0, chance)

    # ----- the arithmetic -------------------------------------------------------------------------

    def _tail(self, comparisons=1):
        """Each bound's one-sided error: ``δ / comparisons`` (a Bonferroni share per group or class)."""
        return None if self.confidence is None else (1 - self.confidence) / comparisons

    def _weights(self, n):
        return resample_weights(n, self.n_bootstrap, self.random_state) if self.n_bootstrap else None

    def _evaluate_binary(self, counts_with, n_rows, future_ratio, constant=None):
        """Binary rules from ``counts_with(weights)``: analytic bounds, or bootstrap percentiles.

        ``constant`` marks the rules that predict one class on any rows: their
        bias is exactly 0 and their balanced accuracy exactly 0.5, wherever
        they are applied, so their bounds are exact.
        """
        counts = _scaled(counts_with(None), future_ratio)
        n_groups = counts.positive.shape[-2]
        tail = self._tail(1 if n_groups == 2 else n_groups)
        gap, balanced = _gap_bounds(counts, self.measure, tail), _balanced_accuracy_bounds(counts, self._tail())
        if self.n_bootstrap and self.confidence is not None:
            resampled = counts_with(self._weights(n_rows))
            gap = (gap[0], *self._percentile_bounds(_gap_bounds(resampled, self.measure, None)[0]), None)
            balanced = (balanced[0], *self._percentile_bounds(_balanced_accuracy_bounds(resampled, None)[0]))
            gap, balanced = _rescaled(gap, future_ratio), _rescaled(balanced, future_ratio)
        if constant is not None and constant.any():
            gap = tuple(None if part is None else np.where(constant, 0.0, part) for part in gap)
            balanced = tuple(np.where(constant, 0.5, part) for part in balanced)
        return self._evaluation(gap, balanced, signed=True, chance=0.5, n_rows=n_rows, constant=constant)

    def _evaluate_classes(self, y, predicted, n_classes, groups, n_groups, future_ratio):
        """The most-probable-class rule: the mean over classes of each class-against-the-rest gap."""
        check_bias_metric(self.bias_metric, multiclass=True)
        if n_groups != 2:
            raise ValueError("A multi-class bias is measured between exactly two groups (domains).")
        y, predicted = np.asarray(y).astype(int), np.asarray(predicted).astype(int)

        def per_class(weights):
            return [prediction_counts((predicted == c)[None].astype(float), (y == c).astype(int), groups,
                                      n_groups, weights) for c in range(n_classes)]

        tail = self._tail(n_classes)
        classes = [_scaled(counts, future_ratio) for counts in per_class(None)]
        spread = _class_spread(classes, self.measure, tail)
        balanced = _mean_recall(classes, self._tail())
        if self.n_bootstrap and self.confidence is not None:
            resampled = per_class(self._weights(len(y)))
            spread = (spread[0], *self._percentile_bounds(_class_spread(resampled, self.measure, None)[0]))
            balanced = (balanced[0], *self._percentile_bounds(_mean_recall(resampled, None)[0]))
            spread, balanced = _rescaled(spread, future_ratio), _rescaled(balanced, future_ratio)
        return self._evaluation(spread, balanced, signed=False, chance=1.0 / n_classes, n_rows=len(y))

    def _percentile_bounds(self, resampled):
        """One-sided percentile bounds at the confidence over the leading (resample) axis.

        A resample that misses a cell the measure needs has no value; it
        counts as maximally unfavourable (the bounds then widen to it).
        """
        delta = 1 - self.confidence
        low = np.nanquantile(np.where(np.isnan(resampled), -1.0, resampled), delta, axis=0)
        high = np.nanquantile(np.where(np.isnan(resampled), 1.0, resampled), 1 - delta, axis=0)
        return low, high

    def _evaluation(self, bias_bounds, ba_bounds, *, signed, chance, n_rows, constant=None):
        """An Evaluation from the bounds of the bias and of balanced accuracy.

        ``bias_bounds`` is ``(bias, low, high, abs_upper)``; ``abs_upper``
        (None: from ``low`` and ``high``) bounds ``|bias|`` over every group.
        """
        (bias, low, high, *covering), (balanced, ba_low, ba_high) = bias_bounds, ba_bounds
        covering = covering[0] if covering else None
        abs_upper = (np.maximum(high, -low) if signed else high) if covering is None else covering
        # A constant rule's bounds are 0 and -0, and np.maximum keeps -0: adding 0 makes it read 0.000.
        abs_upper = abs_upper + 0.0
        # A bias that cannot be measured (an empty cell) is never within tolerance.
        abs_upper = np.where(np.isnan(bias), np.inf, abs_upper)
        return Evaluation(*(np.atleast_1d(np.asarray(a, dtype=float))
                            for a in (balanced, ba_low, ba_high, bias, low, high, abs_upper)),
                          constant=np.zeros(np.shape(np.atleast_1d(bias)), dtype=bool)
                          if constant is None else np.atleast_1d(constant),
                          chance=chance, epsilon=self.epsilon, n_rows=int(n_rows))

    # ----- plain scores ---------------------------------------------------------------------------

    def certified_phi(self, evaluation):
        """Φ at the confidence: balanced accuracy if the bound on ``|bias|`` is under ``epsilon``, else 0.

        With ``confidence=None`` the bound is the estimate itself, and this is plain Φ.
        """
        return np.where(evaluation.fair, evaluation.balanced_accuracy, 0.0)


def phi_score(y_true, y_pred, *, sensitive, bias_metric="spd", epsilon=0.05, confidence=None):
    """The objective Φ: balanced accuracy if ``|bias| < epsilon``, else 0.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        True labels coded 0/1, or class labels for more than two classes.
    y_pred : array-like of shape (n,)
        Predicted labels, coded as ``y_true``.
    sensitive : array-like of shape (n,) or (n, k)
        Protected attribute coded 0/1 (1 is privileged), or three or more
        groups, or ``k`` attributes whose combinations are the groups; two
        domains coded 0/1 for more than two classes.
    bias_metric : str, default="spd"
        The bias measure that must stay within the tolerance.
    epsilon : float, default=0.05
        The tolerance on the absolute bias.
    confidence : float, optional
        Compare an upper confidence bound on ``|bias|`` with ``epsilon``
        instead of the estimate (see :class:`FairnessObjective`).

    Returns
    -------
    float
    """
    objective = FairnessObjective(bias_metric=bias_metric, epsilon=epsilon, confidence=confidence)
    if is_multiclass(y_true, y_pred):
        classes, codes = np.unique(np.concatenate([np.ravel(y_true), np.ravel(y_pred)]), return_inverse=True)
        y_codes, pred_codes = codes[: len(np.ravel(y_true))], codes[len(np.ravel(y_true)):]
        sensitive = np.asarray(sensitive)
        if not np.isin(sensitive, (0, 1)).all() or len(np.unique(sensitive)) != 2:
            raise ValueError("sensitive must hold two domains coded 0/1 for a multi-class bias.")
        evaluation = objective.evaluate_predictions(y_codes, pred_codes, sensitive, n_classes=len(classes))
    else:
        y_codes, pred_codes, sensitive = coded_arrays(y_true, y_pred, sensitive)
        evaluation = objective.evaluate_predictions(y_codes, pred_codes, sensitive)
    return float(objective.certified_phi(evaluation)[0])


# ----- cell arithmetic ----------------------------------------------------------------------------------


def _ladder(accuracy, allowed_by_rung):
    """The most accurate allowed candidate of each rung, keeping only rungs that add accuracy."""
    rungs, best = [], -np.inf
    for allowed in allowed_by_rung:
        allowed = np.flatnonzero(allowed)
        if len(allowed) == 0:
            continue
        index = int(allowed[np.argmax(accuracy[allowed])])
        if accuracy[index] > best:
            rungs.append(index)
            best = accuracy[index]
    return rungs


def _interval(evaluation):
    """Each candidate's bias estimate and the bounds that matter for ``|bias|``: ``(bias, lower, upper)``.

    With several groups the bound on ``|bias|`` may come from a group other
    than the one whose gap is reported; it then takes the place of the
    reported gap's bound on the gap's side, read with that gap's width.
    Unmeasurable biases read as 0 (their bound is infinite).
    """
    bound = evaluation.abs_bias_upper
    bias = np.nan_to_num(evaluation.bias)
    upper, lower = np.nan_to_num(evaluation.bias_upper), np.nan_to_num(evaluation.bias_lower)
    other = bound > np.maximum(upper, -lower)
    return (bias, np.where(other & (bias < 0), -bound, lower), np.where(other & (bias >= 0), bound, upper))


def _standard_error(width, confidence):
    """One estimate's standard error, from the distance ``width`` between it and its bound at ``confidence``.

    The bounds are read as a normal estimate's: the distance over the
    confidence's normal quantile. A bound that sits on its estimate (a rate
    of 0 or 1, or a constant rule) reads as a tiny error, never none, so that
    the error can divide.
    """
    return np.maximum(width, 1e-12) / norm.ppf(confidence)


def _side_chance(margin, width, confidence):
    """The chance that a fresh bound stays on the right side of the tolerance, ``margin`` away from it now.

    ``width`` is the distance from the estimate to this side's bound
    (:func:`_standard_error`); a fresh estimate differs from this one by
    ``sqrt(2)`` standard errors.
    """
    return norm.cdf(margin / (np.sqrt(2) * _standard_error(width, confidence)))


def _scaled(counts, future_ratio):
    """The counts as they would be on ``future_ratio`` times as many rows with the same rates.

    Their bounds are then the ones a test on that many rows would give these
    rates: the expected bounds of a safety test. Exact intervals shrink as
    ``1/n`` near a rate of 0 or 1 and as ``1/sqrt(n)`` elsewhere, so scaling
    the counts, not the widths, keeps both right.
    """
    if future_ratio is None:
        return counts
    return CellCounts(counts.positive * future_ratio, counts.total * future_ratio)


def _rescaled(bounds, future_ratio):
    """Percentile bounds widened or narrowed to ``future_ratio`` times the rows (widths as ``1/sqrt(n)``)."""
    if future_ratio is None:
        return bounds
    estimate, low, high, *rest = bounds
    centre, grow = np.nan_to_num(estimate), 1 / np.sqrt(future_ratio)
    return (estimate, centre - (centre - low) * grow, centre + (high - centre) * grow, *rest)


def _groups(sensitive):
    """Each row's group index, and the number of groups: 0/1 codes are two groups, one-hot columns more."""
    sensitive = np.asarray(sensitive)
    if sensitive.ndim == 2:
        return sensitive.argmax(-1), sensitive.shape[1]
    return sensitive.astype(int), 2


def _proportion(counts, label, tail, members=None):
    """Favourable share among the rows of ``label`` (None: every label) in ``members`` (None: every group)."""
    positive, total = counts.positive, np.broadcast_to(counts.total, counts.positive.shape)
    if members is not None:
        positive, total = positive[..., members, :], total[..., members, :]
    if label is None:
        x, n = positive.sum((-1, -2)), total.sum((-1, -2))
    else:
        x, n = positive[..., label].sum(-1), total[..., label].sum(-1)
    return exact_interval(x, n, tail)


def _group_gap(counts, group, measure, tail):
    """A measure's gap between one group and all other rows, with its MOVER bounds."""
    rest = [g for g in range(counts.positive.shape[-2]) if g != group]
    parts, weights = [], []
    for label, weight in measure.terms:
        parts += [_proportion(counts, label, tail, [group]), _proportion(counts, label, tail, rest)]
        weights += [weight, -weight]
    return combine_intervals(*zip(*parts), weights)


def _gap_bounds(counts, measure, tail):
    """The signed bias, its bounds, and a bound on ``|bias|`` (None: from the two bounds).

    Two groups: the unprivileged (code 0) against the privileged, as AIF360.
    Several: each group against the rest; the gap reported, with its bounds,
    is the largest in magnitude (as :func:`~skfairmask.metrics.bias_gap`),
    and the bound on ``|bias|`` is the largest over the groups, each bounded
    at its Bonferroni share of δ, so that it holds whichever group is truly
    the worst.
    """
    n_groups = counts.positive.shape[-2]
    if n_groups == 2:
        return (*_group_gap(counts, 0, measure, tail), None)
    gap, low, high = (np.stack(part) for part in zip(*(_group_gap(counts, g, measure, tail)
                                                       for g in range(n_groups))))
    largest = np.nan_to_num(np.abs(gap), nan=-1.0).argmax(0)[None]
    return (np.take_along_axis(gap, largest, 0)[0], np.take_along_axis(low, largest, 0)[0],
            np.take_along_axis(high, largest, 0)[0], np.maximum(high, -low).max(0))


def _balanced_accuracy_bounds(counts, tail):
    """Balanced accuracy ``½(TPR + 1 − FPR)`` of binary rules, with MOVER bounds."""
    tpr, fpr = _proportion(counts, 1, tail), _proportion(counts, 0, tail)
    difference, low, high = combine_intervals(*zip(tpr, fpr), [1.0, -1.0])
    return 0.5 + 0.5 * difference, 0.5 + 0.5 * low, 0.5 + 0.5 * high


def _class_spread(per_class, measure, tail):
    """Mean over classes of ``|gap|`` (classes whose gap is undefined left out), with bounds on it."""
    gaps = [_group_gap(counts, 0, measure, tail) for counts in per_class]
    gap, low, high = (np.stack(part) for part in zip(*gaps))
    defined = ~np.isnan(gap)
    # Bounds on |gap| from bounds on gap: 0 when the interval straddles 0.
    abs_low = np.where(low > 0, low, np.where(high < 0, -high, 0.0))
    abs_high = np.maximum(high, -low)

    def mean(values):
        return np.where(defined, values, 0.0).sum(0) / np.maximum(defined.sum(0), 1)

    point = np.where(defined.any(0), mean(np.abs(np.nan_to_num(gap))), np.nan)
    return point, mean(abs_low), mean(abs_high)


def _mean_recall(per_class, tail):
    """Balanced accuracy of a multi-class rule (mean recall over the classes present), with MOVER bounds."""
    recalls = [_proportion(counts, 1, tail) for counts in per_class]
    present = [r for r in recalls if not np.isnan(r[0]).all()]
    return combine_intervals(*zip(*present), [1.0 / len(present)] * len(present))
