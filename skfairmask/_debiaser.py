"""FairMaskDebiaser: the scikit-learn meta-estimator around a pre-trained network.

It validates, copies the user's network, splits the rows, runs one strategy
from :data:`skfairmask.strategies.STRATEGIES`, has the final rule chosen and
certified (:mod:`skfairmask.selection`) and records the fitted attributes. It
holds no algorithm of its own.
"""

import contextlib
import copy
import time
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context, clone
from sklearn.metrics import balanced_accuracy_score
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils import gen_batches
from sklearn.utils.validation import check_is_fitted

from ._outputs import probabilities
from ._progress import EpochProgress
from .datasets import from_binary_label_dataset, is_binary_label_dataset
from ._validation import (
    check_features,
    check_sensitive,
    check_target_length,
    encode_target,
    is_column_name,
    sensitive_from_columns,
    sensitive_from_index,
)
from ._split import DEFAULT_HOLDOUT_SIZE, base_and_debias_rows, debias_data
from ._threads import threads_for, torch_threads
from .finetune import FINETUNE_LOSSES, FIXED_SETTINGS, FinetuneSettings
from .masking import MASK_GRANULARITIES, MaskSettings
from .metrics import BIAS_METRICS, check_bias_metric
from .objective import phi_score
from .network import check_output_finite, resolve_network, to_skorch, train_base_network
from .objective import DEFAULT_CONFIDENCE, FairnessObjective
from .quantiles import QUANTILE_RATES
from .selection import DEFAULT_FALLBACK, FALLBACKS, certify_results, most_accurate_uncertified
from .strategies import STRATEGIES, TEACHERS, DebiasSettings

__all__ = ["FairMaskDebiaser"]

_WRAPPER_PREFIX = "module."  # FavourableLogit keeps the user's module under this name

#: Rows per forward pass in predict_proba, so that memory stays bounded on any input size.
PREDICT_BATCH_ROWS = 65_536


class FairMaskDebiaser(ClassifierMixin, BaseEstimator):
    """Debias a pre-trained PyTorch classifier without retraining it.

    The estimator finds the few weights that carry the network's unfairness
    (a learned binary mask), repairs the network with the chosen strategy, and
    tunes the decision threshold for the objective Φ (balanced accuracy if
    ``|bias| < epsilon``, else 0) on the data given to :meth:`fit`. The fitted
    model predicts from ``X`` alone.

    Parameters
    ----------
    estimator : skorch net, FrozenEstimator, torch.nn.Module or None, default=None
        The pre-trained network: a fitted skorch ``NeuralNetClassifier`` or
        ``NeuralNetBinaryClassifier`` (bare or inside
        ``sklearn.frozen.FrozenEstimator``), or a ``torch.nn.Module`` that
        outputs one logit or two logits per row; for ``k > 2`` classes, one
        logit per class, shape (n, k). It is copied, never changed.
        With ``None``, a default MLP (10 × 32, BatchNorm, dropout 0.2) is
        trained on a stratified ``1 - validation_size`` share of the rows
        passed to :meth:`fit`, and the rest is used to debias it.
    strategy : str, default="auto"
        How to repair the network; one of :data:`skfairmask.strategies.STRATEGIES`:

        - ``"auto"``: ``"offset"`` where it applies (a binary network whose
          last layer is ``torch.nn.Linear``), else ``"prune_advft"``;
        - ``"offset"``: shift each row's logit against the mean gap of its
          group, as the network's representation and ``X`` read the group (an
          edit of the last layer and one weight per input column);
        - ``"quantile"``: the offset's one threshold per group, set at the same
          quantile of each group's scores on the certifying rows, so that its
          bias is bounded from the row counts alone (SPD, with the protected
          attribute a column of ``X``); more accurate on small data, less
          often fair on a small test set;
        - ``"portfolio"``: repair copies of the network with ``"offset"`` and
          ``"prune_advft"``, and choose among all their rules;
        - ``"none"``: keep the network, tune only the threshold;
        - ``"prune"``: zero the corrupted weights;
        - ``"prune_advft"``: zero them, then fine-tune with them held at zero;
        - ``"adv_ft"``: fine-tune the full network (Savani et al.'s Adv.Ft);
        - ``"graft_noise"``, ``"graft_internal"``: refill the corrupted weights
          with noise, or from the strongest intact row of their layer, then fine-tune;
        - ``"graft_external"``: discover two masks and blend the two
          sub-networks layer by layer, then fine-tune;
        - ``"netaug"``: fine-tune the pruned sub-network together with
          augmented networks that switch corrupted weights back on;
        - ``"random_perturbation"``, ``"layerwise_opt"``: Savani et al.'s
          gradient-free baselines;
        - ``"distill_prune"``: prune the network so that it mimics the
          network that ``teacher`` builds.

        ``docs/strategies.md`` says what each costs and when to pick it.
    bias_metric : {"spd", "eod", "aod"}, default="spd"
        Statistical parity, equal opportunity or average odds difference.
        With more than two classes, ``"spd"`` or ``"eod"`` between two
        domains, averaged over classes (:func:`skfairmask.metrics.multiclass_gap`).
    prot_attr : str or list of str, optional
        The index level of a DataFrame ``X`` that holds the protected
        attribute (AIF360's convention); a list names several, whose
        combinations are the groups. It is read by :meth:`fit` and
        :meth:`score` when they get no ``sensitive``, needs no metadata
        routing, and survives ``set_output(transform="pandas")`` in a Pipeline.
        ``predict`` never reads it.
    priv_group : scalar, default=1
        With two groups, the attribute's value for the privileged group; the
        other value is the unprivileged group (AIF360's scikit-learn API uses
        this name). With more groups, there is no privileged group: the bias
        is the largest gap between any group and all other rows.
    epsilon : float, default=0.05
        Tolerance on ``|bias|`` in the objective Φ.
    tau : float, default=0.01
        Density floor of mask discovery: the regulariser stops pushing the
        share of kept weights below it.
    beta : float, default=0.01
        Weight of the density regulariser; larger prunes more. At the default,
        about 15% of the base network's weights are pruned on Adult.
    epochs : int, default=10
        Epochs of mask discovery: passes over the rows, each of at least 20
        batches (rows are drawn again on small data, so that the mask can move).
    lr : float, default=0.02
        Adam's learning rate on the mask logits. Adam moves every logit that is
        pushed one way at about this rate, so ``lr · steps`` bounds how far a
        logit can travel from its start at 3: it also limits how much is pruned.
    batch_size : int, default=256
        Batch size of mask discovery (batches are stratified by group and label).
    fairness_weight : float, default=1.0
        Weight λ of the differentiable bias surrogate in mask discovery's loss.
    finetune_epochs : int, default=16
        Epochs of fine-tuning (each: 60 critic steps, then 100 network steps
        on batches of 64), for the strategies that fine-tune.
    finetune_loss : {"critic", "surrogate", "both"}, default="both"
        What pulls fine-tuning towards fairness: Savani et al.'s adversarial
        critic, which scales up the loss while it detects bias; the
        differentiable bias surrogate ``|soft bias|`` added to the loss; or
        the critic's scale applied to the loss with the surrogate.
    finetune_fairness_weight : float, default=3.0
        Weight of that surrogate in fine-tuning's loss. Fine-tuning's other
        settings are fixed (:data:`skfairmask.finetune.FIXED_SETTINGS`).
    mask_granularity : {"weight", "unit"}, default="weight"
        What one mask entry covers: a single weight (the paper), or a whole
        unit (a row of a Linear weight, an output channel of a convolution;
        the output layer stays per weight).
    teacher : str, default="prune_advft"
        With ``strategy="distill_prune"``, the strategy that builds the fair
        network to mimic; any strategy but ``"distill_prune"``.
    threshold : "tune" or float, default="tune"
        ``"tune"`` chooses the threshold among 200 candidates by the fairness
        objective (see ``confidence``); a float in (0, 1) fixes it, and the
        fixed rule is certified the same way. A multi-class model has no
        threshold (it predicts its most probable class); leave ``"tune"``.
    confidence : float, default=0.80
        How sure the fit must be that the model it hands back keeps
        ``|bias| < epsilon`` on new data from the same population: ``1 - δ``.
        Every choice (the epoch, the strategy, the threshold) is made on
        selection rows with bounds at this confidence, and the final rule is
        tested on safety rows that no choice read (or, where every candidate
        is one threshold per group, chosen on every row under a band that
        holds for all of them at once); ``tolerance_met_`` is True only if
        it passes and beats a constant prediction with the same confidence.
        See ``docs/method.md``, section 6.
    fallback : {"most_accurate", "surest"}, default="most_accurate"
        What the fit hands back where it certifies no rule both fair and
        better than a constant prediction (``tolerance_met_`` is then False,
        and a warning says so). ``"most_accurate"``: the most accurate rule
        whose bound on ``|bias|`` at ``confidence`` is under ``epsilon`` on
        every row that no network learnt from, as a post-processor such as
        ThresholdOptimizer chooses on all its rows; those rows also chose
        it, so nothing about it is certified (``certificate_["rows"]`` is
        ``"uncertified"``), and on German's 200 rows it was fair on test in
        63% of runs, against 100% for a constant (``quality.md``).
        ``"surest"``: the rule the certification ended on, which on a few
        hundred rows is a constant prediction, exactly fair and useless.
    n_bootstrap : int, default=0
        0 for analytic confidence bounds (exact intervals on the group
        rates, combined by MOVER); a positive number for bootstrap percentile
        bounds over that many resamples.
    holdout_size : float, default=0.7
        Share of the rows given to :meth:`fit` that the mask and the weights
        are *not* trained on, stratified by group and label, split into
        selection rows (30% of them; every choice is made on them) and safety
        rows (70%; read once, to certify the final rule): at the default,
        30% of the rows train, 21% select and 49% certify. Strategies that
        learn nothing from the training rows' labels (``"none"``,
        ``"offset"``) make their choices on the training and selection rows
        together.
    validation_size : float, default=0.5
        With ``estimator=None``, the share of rows kept for debiasing.
    device : str, default="cpu"
        Torch device for all the work, e.g. ``"cuda"``.
    n_threads : int or None, default=None
        Torch intra-op threads during ``fit`` and ``predict`` (the caller's
        setting is restored afterwards). None chooses by the network's size:
        1 below a million parameters, where more threads buy nothing and
        slow a loaded machine down many times. A fixed count makes a CPU fit
        identical whatever ``torch.set_num_threads`` the caller had set.
    random_state : int, RandomState or None, default=None
        Makes a CPU fit reproducible bit for bit.
    verbose : int, default=0
        Show progress bars when positive.

    Attributes
    ----------
    net_ : skorch.NeuralNetBinaryClassifier or skorch.NeuralNetClassifier
        The debiased network; its module returns the favourable-class logit
        (or, multi-class, the class logits) and wraps the debiased copy of
        the user's module as ``module_.module``.
    mask_ : dict of str to torch.Tensor
        Boolean mask per weight tensor, named as in the user's module;
        ``False`` marks a corrupted weight. For the strategies whose row of
        :data:`skfairmask.strategies.STRATEGIES` says ``prunes``, those
        weights are exactly zero in ``net_``; the grafting strategies refill
        them instead. All ``True`` for the strategies that find no mask.
    pruning_rate_ : float
        Share of masked weights that ``mask_`` marks as corrupted, over all layers.
    pruning_rate_by_layer_ : dict of str to float
        The same, per weight tensor.
    threshold_ : float or None
        Decision threshold on the favourable-class probability; None for a
        multi-class model.
    tolerance_met_ : bool
        Whether the model was certified (``certificate_["certified_on"]``), at ``confidence``,
        both to keep ``|bias| < epsilon`` and to beat a constant prediction
        (which is always fair, and never a success). A warning says which
        failed when it is False.
    certified_epsilon_ : float
        The smallest tolerance at which the returned model passes its test
        at ``confidence`` (on the safety rows, under the uniform band, or by
        the quantile laws): the tolerance the data supports. Infinite where
        the model returned was certified nowhere (``fallback``).
    bias_interval_ : tuple of float
        The certifying rows' bias estimate's two-sided interval at ``confidence``
        (for an uncertified model, the interval on the rows that chose it).
    better_than_constant_ : bool
        Whether the lower bound on balanced accuracy exceeds a constant
        prediction's (0.5; ``1 / n_classes`` for several classes).
    balanced_accuracy_interval_ : tuple of float
    certificate_ : dict
        All of the above, with the certifying rows (``rows``: ``"safety"``,
        ``"all"``, ``"base_rate"``, ``"true_positive_rate"`` or ``"quantiles"``; ``certified_on``, in
        words), their count and the
        number of candidates tested and certified.
    strategy_ : str
        The strategy whose rule was chosen: ``strategy`` itself, or, for
        ``"auto"``, the member of the portfolio it came from.
    validation_scores_ : dict
        ``phi``, ``balanced_accuracy`` and ``bias`` of the returned model on
        the certifying rows (point estimates).
    n_threads_ : int
        The torch thread count that ``fit`` and ``predict`` use.
    history_ : dict of str to list of dict
        Per-epoch records by phase: ``"mask_discovery"`` (loss, density, bias;
        ``"mask_discovery_second"`` too for ``graft_external``), ``"finetune"``
        (critic loss, loss, bias, phi), ``"search"`` (one record per candidate
        or tensor of the gradient-free strategies, with the ``rank`` it was compared
        by: Φ, or ``-|bias|`` where Φ is 0), and the teacher's phases
        prefixed ``"teacher_"`` for ``distill_prune``.
    timings_ : dict of str to float
        Seconds per phase, with ``"total"``.
    classes_ : ndarray of shape (n_classes,)
        Sorted labels; with two classes, ``classes_[1]`` is the favourable label.
    n_features_in_ : int
        Columns of ``X`` (channels, for images).
    input_shape_ : tuple of int
        The shape of one row of ``X``: ``(n_features,)``, or
        ``(channels, height, width)`` for images.
    feature_names_in_ : ndarray of str
        Only when ``X`` had string column names.

    Examples
    --------
    >>> from skfairmask import FairMaskDebiaser
    >>> from skfairmask.datasets import make_biased_classification
    >>> X, y, A = make_biased_classification(n_samples=600, random_state=0)
    >>> deb = FairMaskDebiaser(epochs=2, finetune_epochs=2, random_state=0).fit(X, y, sensitive=A)
    >>> deb.predict(X[:5]).shape
    (5,)
    """

    # fit and score ask for the protected attribute by default under metadata routing.
    __metadata_request__fit = {"sensitive": True}
    __metadata_request__score = {"sensitive": True}

    _parameter_constraints = {
        "estimator": "no_validation",  # resolved and checked in network.resolve_network
        "strategy": [StrOptions(set(STRATEGIES))],
        # The registry's live view of its names: a measure added to it is accepted.
        "bias_metric": [StrOptions(BIAS_METRICS.keys())],
        "prot_attr": [None, str, list],
        "priv_group": "no_validation",  # any scalar; checked against the data in fit
        "epsilon": [Interval(Real, 0, 1, closed="neither")],
        "tau": [Interval(Real, 0, 1, closed="neither")],
        "beta": [Interval(Real, 0, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        "fairness_weight": [Interval(Real, 0, None, closed="left")],
        "finetune_epochs": [Interval(Integral, 1, None, closed="left")],
        "finetune_loss": [StrOptions(set(FINETUNE_LOSSES))],
        "finetune_fairness_weight": [Interval(Real, 0, None, closed="left")],
        "mask_granularity": [StrOptions(set(MASK_GRANULARITIES))],
        "teacher": [StrOptions(set(TEACHERS))],
        "threshold": [StrOptions({"tune"}), Interval(Real, 0, 1, closed="neither")],
        "confidence": [Interval(Real, 0.5, 1, closed="left")],
        "fallback": [StrOptions(set(FALLBACKS))],
        "n_bootstrap": [Interval(Integral, 0, None, closed="left")],
        "holdout_size": [Interval(Real, 0, 1, closed="neither")],
        "validation_size": [Interval(Real, 0, 1, closed="neither")],
        "device": [str, torch.device],
        "n_threads": [None, Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        estimator=None,
        *,
        strategy="auto",
        # What is fair, and how sure the fit must be.
        bias_metric="spd", prot_attr=None, priv_group=1, epsilon=0.05, confidence=DEFAULT_CONFIDENCE,
        fallback=DEFAULT_FALLBACK, threshold="tune", n_bootstrap=0, holdout_size=DEFAULT_HOLDOUT_SIZE,
        # Mask discovery.
        tau=0.01, beta=0.01, epochs=10, lr=0.02, batch_size=256, fairness_weight=1.0, mask_granularity="weight",
        # Fine-tuning, and the strategies built on others.
        finetune_epochs=16, finetune_loss="both", finetune_fairness_weight=3.0, teacher="prune_advft",
        # Where and how the work runs.
        validation_size=0.5, device="cpu", n_threads=None, random_state=None, verbose=0,
    ):
        self.estimator = estimator
        self.strategy = strategy
        self.bias_metric = bias_metric
        self.prot_attr = prot_attr
        self.priv_group = priv_group
        self.epsilon = epsilon
        self.tau = tau
        self.beta = beta
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.fairness_weight = fairness_weight
        self.finetune_epochs = finetune_epochs
        self.finetune_loss = finetune_loss
        self.finetune_fairness_weight = finetune_fairness_weight
        self.mask_granularity = mask_granularity
        self.teacher = teacher
        self.threshold = threshold
        self.confidence = confidence
        self.fallback = fallback
        self.n_bootstrap = n_bootstrap
        self.holdout_size = holdout_size
        self.validation_size = validation_size
        self.device = device
        self.n_threads = n_threads
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *, sensitive=None):
        """Debias the network on ``(X, y)`` with the protected attribute ``sensitive``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or BinaryLabelDataset
            Validation data that the network was not trained on. An AIF360
            ``BinaryLabelDataset`` brings its own labels and protected
            attribute (``prot_attr`` picks one if it has several).
        y : array-like of shape (n_samples,)
            Two classes; the greater one is favourable. Not with a dataset.
        sensitive : array-like of shape (n_samples,) or (n_samples, k), or str, optional
            The protected attribute: two values, ``priv_group`` for the
            privileged group; or three or more groups; or ``k`` attributes
            whose combinations are the groups. A column name (or a list of
            them) of a DataFrame ``X`` reads the attribute from it; the
            column stays among the features, as a network trained with it
            expects. Without it, it is read from the index level(s)
            ``prot_attr`` of ``X``.

        Returns
        -------
        self : FairMaskDebiaser

        Raises
        ------
        ValueError, TypeError
            On bad input, naming the argument and what was expected.
        FloatingPointError
            If a training loss becomes NaN or infinite.

        Whatever stops a fit (an error, or a KeyboardInterrupt) leaves the
        estimator unfitted, never half-updated, and the user's network untouched.
        """
        try:
            return self._fit(X, y, sensitive)
        except BaseException:
            self._discard_fit()
            raise

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = True  # with a multi-class network of the user's
        return tags

    def _sensitive(self, X, sensitive):
        """``sensitive`` as given, read from the column(s) it names, or from the index level ``prot_attr``."""
        if sensitive is None and self.prot_attr is not None:
            return sensitive_from_index(X, self.prot_attr)
        if is_column_name(sensitive):
            return sensitive_from_columns(X, sensitive)
        return sensitive

    def __sklearn_clone__(self):
        """A clone that shares the pre-trained network instead of cloning it.

        ``sklearn.clone`` would re-initialise a bare skorch net, losing its
        weights. Sharing is safe because a fit never changes the network it is
        given (it works on a copy), so every clone, and every candidate of a
        search, starts from the same pre-trained weights.
        """
        params = {
            name: value if name == "estimator" else clone(value, safe=False)
            for name, value in self.get_params(deep=False).items()
        }
        twin = type(self)(**params)
        if hasattr(self, "_metadata_request"):
            twin._metadata_request = copy.deepcopy(self._metadata_request)
        return twin

    def _discard_fit(self):
        """Delete every fitted attribute, so that a failed fit leaves the estimator unfitted."""
        for name in [n for n in vars(self) if n.endswith("_") and not n.startswith("__")]:
            delattr(self, name)

    def _fit(self, X, y, sensitive):
        X, y01, classes, sensitive = self._validated(X, y, sensitive)
        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        objective = self._objective(seed)

        start = time.perf_counter()
        with _seeded_torch(seed, self.device), torch_threads(self.n_threads or 1):
            network, (X, y01, sensitive) = self._pretrained_network(X, y01, sensitive, seed)
        n_threads = threads_for(network, self.n_threads)
        with _seeded_torch(seed, self.device), torch_threads(n_threads):
            data = debias_data(X, y01, sensitive, self.holdout_size, seed, self.device)
            for part in (data.train, data.selection, data.safety):
                check_output_finite(network, part.X)
            result = STRATEGIES[self.strategy].run(network, data, self._settings(objective),
                                                   EpochProgress(self.verbose))
            results = result.alternatives or {self.strategy: result}
            chosen, selection = certify_results(results, data, objective)
            if not selection.certificate.tolerance_met and self.fallback == "most_accurate":
                chosen, selection = most_accurate_uncertified(results, data, objective) or (chosen, selection)
            result = _merged(results, chosen)
            if result.family is not None:
                result.family.apply(result.network, selection.member)

        self.classes_ = classes
        self.input_shape_ = tuple(X.shape[1:])
        self.n_threads_ = n_threads
        self.net_ = to_skorch(result.network, threshold=selection.threshold, device=self.device)
        self.mask_ = {name.removeprefix(_WRAPPER_PREFIX): m.cpu() for name, m in result.masks.items()}
        self.pruning_rate_by_layer_ = {n: 1.0 - float(m.float().mean()) for n, m in self.mask_.items()}
        kept = sum(int(m.sum()) for m in self.mask_.values())
        self.pruning_rate_ = 1.0 - kept / sum(m.numel() for m in self.mask_.values())
        self.threshold_ = selection.threshold
        self.strategy_ = chosen
        self._record_certificate(selection.certificate)
        if result.certify_at_quantiles:
            _say_where_quantiles_went(selection.certificate)
        self.history_ = result.history
        self.timings_ = {**result.timings, "total": time.perf_counter() - start}
        return self

    def _validated(self, X, y, sensitive):
        """``X`` as an array, ``y`` as class codes, the classes and the coded protected attribute."""
        if is_binary_label_dataset(X):
            X, y, sensitive = from_binary_label_dataset(X, self.prot_attr)
        elif y is None:
            raise ValueError(
                "FairMaskDebiaser requires y to be passed, but the target y is None: pass "
                "fit(X, y, sensitive=A), or an AIF360 BinaryLabelDataset as X."
            )
        sensitive = self._sensitive(X, sensitive)
        X = check_features(self, X, reset=True)
        y01, classes = encode_target(check_target_length(y, len(X)))
        sensitive = check_sensitive(sensitive, n_samples=len(y01), y01=y01, bias_metric=self.bias_metric,
                                    priv_group=self.priv_group)
        if len(classes) > 2:
            self._check_multiclass(sensitive)
        return X, y01, classes, sensitive

    def _objective(self, seed):
        return FairnessObjective(bias_metric=self.bias_metric, epsilon=self.epsilon, confidence=self.confidence,
                                 n_bootstrap=self.n_bootstrap, threshold=self.threshold, random_state=seed)

    def _record_certificate(self, certificate):
        """The certificate's fitted attributes, and a warning saying what could not be certified."""
        self.certificate_ = certificate.summary()
        self.tolerance_met_ = certificate.tolerance_met
        self.certified_epsilon_ = certificate.certified_epsilon
        self.bias_interval_ = certificate.bias_interval
        self.better_than_constant_ = certificate.better_than_constant
        self.balanced_accuracy_interval_ = certificate.ba_interval
        self.validation_scores_ = {"phi": certificate.phi, "balanced_accuracy": certificate.balanced_accuracy,
                                   "bias": certificate.bias}
        where = f"with {self.confidence:.0%} confidence on the {certificate.rows_described}"
        if certificate.rows == "uncertified":
            low, high = certificate.bias_interval
            warnings.warn(
                f"No model both fair (|{self.bias_metric}| < epsilon = {self.epsilon}) and better than a constant "
                f"prediction could be certified with {self.confidence:.0%} confidence, so the model returned is "
                f"the most accurate rule whose bound on |{self.bias_metric}| is under epsilon on the "
                f"{certificate.n_rows} rows no network learnt from (fallback='most_accurate'): estimate "
                f"{certificate.bias:+.3f}, interval [{low:+.3f}, {high:+.3f}]. Those rows also chose it, so these "
                "figures are optimistic and nothing about it is certified: it may be unfair on new data. "
                "tolerance_met_ is False. More rows, a larger epsilon or a lower confidence would let a fit "
                "certify; fallback='surest' returns the surest rule instead (often a constant prediction).",
                UserWarning,
            )
        elif not certificate.fair:
            warnings.warn(
                f"|{self.bias_metric}| < epsilon = {self.epsilon} could not be certified {where}; "
                f"the tolerance they support is {certificate.certified_epsilon:.3f} (certified_epsilon_). "
                "The model returned is the surest of the candidates, and tolerance_met_ is False. More rows, "
                "a larger epsilon or a lower confidence would let a fit certify more.",
                UserWarning,
            )
        elif certificate.constant:
            warnings.warn(
                f"No model better than a constant prediction was certified fair {where}, so the model "
                "returned predicts the same class for everyone (exactly fair, and useless). tolerance_met_ "
                f"is False. More rows, a larger epsilon or a lower confidence would let a fit certify more.",
                UserWarning,
            )
        elif not certificate.better_than_constant:
            low, high = certificate.ba_interval
            chance = 0.5 if len(self.classes_) == 2 else 1 / len(self.classes_)
            warnings.warn(
                f"The model certified fair {where} is not surely better than a constant prediction: its "
                f"balanced accuracy interval [{low:.3f}, {high:.3f}] reaches {chance:.3f}, what predicting "
                "one class for everyone scores. tolerance_met_ is False.",
                UserWarning,
            )

    def _check_multiclass(self, sensitive):
        """What more than two classes need: a network of theirs, two domains, a measure defined for them."""
        if self.estimator is None:
            raise ValueError("Only binary classification is supported with estimator=None, which trains a binary "
                             "network, but y holds more than two classes; "
                             "pass your pre-trained multi-class network as estimator.")
        if sensitive.ndim != 1:
            raise ValueError("With more than two classes, sensitive must hold exactly two groups (domains).")
        check_bias_metric(self.bias_metric, multiclass=True)
        if self.threshold != "tune":
            raise ValueError(f"threshold={self.threshold!r} applies to binary classification only; a "
                             "multi-class model predicts its most probable class. Leave threshold='tune'.")

    def _pretrained_network(self, X, y01, sensitive, seed):
        """The private network copy, and the rows left to debias it on."""
        if self.estimator is not None:
            n_classes = int(y01.max()) + 1
            network = resolve_network(self.estimator, X.shape[1:], self.device, n_classes=n_classes)
            return network, (X, y01, sensitive)
        base, debias = base_and_debias_rows(y01, sensitive, self.validation_size, seed)
        network = train_base_network(X[base], y01[base], device=self.device, random_state=seed)
        return resolve_network(network, X.shape[1:], self.device), (X[debias], y01[debias], sensitive[debias])

    def _settings(self, objective):
        """What the strategies read, from this estimator's parameters and fine-tuning's fixed settings."""
        mask = MaskSettings(tau=self.tau, beta=self.beta, fairness_weight=self.fairness_weight, epochs=self.epochs,
                            lr=self.lr, batch_size=self.batch_size, granularity=self.mask_granularity)
        finetune = FinetuneSettings(loss=self.finetune_loss, epochs=self.finetune_epochs,
                                    fairness_weight=self.finetune_fairness_weight, epsilon=self.epsilon,
                                    **FIXED_SETTINGS)
        return DebiasSettings(bias_metric=self.bias_metric, mask=mask, finetune=finetune, teacher=self.teacher,
                              objective=objective)

    def predict_proba(self, X):
        """Probabilities of each class, from ``X`` alone.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), or BinaryLabelDataset

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        check_is_fitted(self)
        if is_binary_label_dataset(X):
            X = from_binary_label_dataset(X, self.prot_attr)[0]
        # float64 input is converted batch by batch, never copied whole.
        X = check_features(self, X, reset=False, dtype=[np.float32, np.float64])
        if tuple(X.shape[1:]) != self.input_shape_:
            raise ValueError(f"X has rows of shape {tuple(X.shape[1:])}, but the debiaser was fitted on rows "
                             f"of shape {self.input_shape_}.")
        module = self.net_.module_.eval()
        binary = len(self.classes_) == 2
        proba = np.empty((len(X),) if binary else (len(X), len(self.classes_)), dtype=np.float64)
        with torch.no_grad(), torch_threads(self.n_threads_):
            for rows in gen_batches(len(X), PREDICT_BATCH_ROWS):
                # np.require copies only read-only (copy-on-write) or float64 batches.
                batch = torch.as_tensor(np.require(X[rows], np.float32, "W"), device=self.device)
                proba[rows] = probabilities(module(batch)).cpu().numpy()
        return np.column_stack([1.0 - proba, proba]) if binary else proba

    def predict(self, X):
        """Predicted class labels, from ``X`` alone (no protected attribute).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        if len(self.classes_) > 2:
            return self.classes_[proba.argmax(1)]
        return self.classes_[(proba[:, 1] > self.threshold_).astype(int)]

    def score(self, X, y, *, sensitive=None, sample_weight=None):
        """Φ on ``(X, y)`` if ``sensitive`` is given, else balanced accuracy.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)
        sensitive : array-like of shape (n_samples,), optional
            The protected attribute (``priv_group`` marks the privileged
            group); read from the index level ``prot_attr`` of ``X`` if omitted.
        sample_weight : None
            Not supported; present for scikit-learn's signature.

        Returns
        -------
        float
        """
        if sample_weight is not None:
            raise ValueError("sample_weight is not supported by FairMaskDebiaser.score.")
        pred = self.predict(X)
        y = check_target_length(y, len(pred))
        unknown = set(np.unique(y)) - set(self.classes_)
        if unknown:
            raise ValueError(f"y holds labels unseen in fit: {sorted(unknown)[:5]}; expected {list(self.classes_)}.")
        # Class codes: 0/1 when binary (1 favourable), 0..k-1 otherwise.
        y_codes, pred_codes = np.searchsorted(self.classes_, y), np.searchsorted(self.classes_, pred)
        sensitive = self._sensitive(X, sensitive)
        if sensitive is None:
            return float(balanced_accuracy_score(y_codes, pred_codes))
        sensitive = check_sensitive(sensitive, n_samples=len(y_codes), priv_group=self.priv_group)
        return phi_score(y_codes, pred_codes, sensitive=sensitive, bias_metric=self.bias_metric,
                         epsilon=self.epsilon)


def _say_where_quantiles_went(certificate):
    """Warn where ``strategy="quantile"`` could not set its thresholds at quantiles, and say what it did."""
    if certificate.rows == "uncertified":
        return  # the fallback's own warning says what was returned
    if certificate.rows != "quantiles":
        low, high = QUANTILE_RATES[0], QUANTILE_RATES[-1]
        warnings.warn(
            f"strategy='quantile' could not certify any rate from {low} to {high} on these rows' counts, so "
            "the final rule was chosen and certified as strategy='offset' does (certificate_['rows']). More "
            "rows would let it certify one.", UserWarning)
    elif certificate.constant:
        warnings.warn(
            "strategy='quantile': more rows than its laws allow share a group's score at the chosen "
            "threshold (repeated feature values), so the model returned is a constant prediction.",
            UserWarning)


def _merged(results, chosen):
    """The chosen result, with every result's time and the others' history under their names."""
    result = results[chosen]
    timings = {}
    for name, other in results.items():
        for phase, seconds in other.timings.items():
            timings[phase] = timings.get(phase, 0.0) + seconds
        if name != chosen:
            result.history.update({f"{name}:{phase}": h for phase, h in other.history.items()})
    result.timings = timings
    if len(results) > 1:
        result.history["portfolio"] = [{"strategy": name, "chosen": name == chosen} for name in results]
    return result


@contextlib.contextmanager
def _seeded_torch(seed, device):
    """Seed torch's global generators for the duration, then restore them."""
    devices = []
    if torch.device(device).type == "cuda":
        devices = [torch.device(device).index or 0]
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield
