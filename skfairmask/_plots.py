"""The report's figures, drawn with matplotlib on axes the caller may pass."""

import numpy as np

__all__ = ["plot_group_rates", "plot_mask_by_layer", "plot_mask_history", "plot_pareto"]


def _axes(ax):
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(6, 3.5), layout="constrained")[1]


def plot_group_rates(groups, ax=None):
    """Selection rate, TPR and FPR per group, side by side for each model.

    Parameters
    ----------
    groups : pandas.DataFrame
        :meth:`FairnessReport.groups` rows, indexed by (model, group).
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    rates = ["selection_rate", "tpr", "fpr"]
    labels = [f"{model}\n{group}" for model, group in groups.index]
    x = np.arange(len(labels))
    width = 0.8 / len(rates)
    for i, rate in enumerate(rates):
        ax.bar(x + (i - 1) * width, groups[rate], width, label=rate.replace("_", " ").upper()
               if rate != "selection_rate" else "selection rate")
    ax.set_xticks(x, labels, fontsize=8)
    ax.set_ylim(0, 1.15)  # headroom above 1 for the legend
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("rate")
    ax.set_title("Rates per group")
    ax.legend(fontsize=8, ncols=3, loc="upper center")
    return ax


def plot_mask_by_layer(layers, ax=None):
    """The share of each weight tensor that the mask marks as corrupted: where the bias lives.

    Parameters
    ----------
    layers : pandas.DataFrame
        :meth:`FairnessReport.mask_by_layer`, indexed by tensor name.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    y = np.arange(len(layers))
    ax.barh(y, layers["corrupted_share"], color="tab:red")
    ax.set_yticks(y, layers.index, fontsize=8)
    ax.invert_yaxis()  # input layer on top
    ax.set_xlabel("share of weights marked corrupted")
    ax.set_title("Where the bias lives")
    ax.set_xlim(0, max(0.05, float(layers["corrupted_share"].max()) * 1.15))
    return ax


def plot_mask_history(history, ax=None):
    """Loss, density and holdout bias per epoch of mask discovery.

    Parameters
    ----------
    history : list of dict
        ``history_["mask_discovery"]`` of a fitted debiaser.
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    from matplotlib.ticker import MaxNLocator

    ax = _axes(ax)
    epochs = [r["epoch"] for r in history]
    ax.plot(epochs, [r["loss"] for r in history], "-o", markersize=3, color="tab:blue", label="loss")
    ax.set_ylabel("loss", color="tab:blue")
    # Density and bias live in [-1, 1]; the loss does not, so they get their own axis.
    shares = ax.twinx()
    shares.plot(epochs, [r["density"] for r in history], "--o", markersize=3, color="tab:orange",
                label="density (share kept)")
    shares.plot(epochs, [r["bias"] for r in history], ":o", markersize=3, color="tab:green",
                label="holdout bias")
    shares.axhline(0, color="grey", linewidth=0.5)
    shares.set_ylabel("density, bias")
    shares.set_ylim(min(-0.05, min(r["bias"] for r in history) - 0.05), 1.05)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("Mask discovery")
    lines = ax.get_legend_handles_labels()
    more = shares.get_legend_handles_labels()
    ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="center right")
    return ax


def plot_pareto(search, epsilon=0.05, ax=None):
    """Balanced accuracy against ``|bias|`` for every candidate of a search, with the ε line.

    Parameters
    ----------
    search : fitted GridSearchCV or RandomizedSearchCV
        Scored with :func:`skfairmask.fairness_scoring`.
    epsilon : float, default=0.05
    ax : matplotlib Axes, optional

    Returns
    -------
    matplotlib Axes
    """
    ax = _axes(ax)
    results = search.cv_results_
    bias = -np.asarray(results["mean_test_neg_abs_bias"], dtype=float)
    accuracy = np.asarray(results["mean_test_balanced_accuracy"], dtype=float)
    fair = bias < epsilon
    ax.scatter(bias[fair], accuracy[fair], label="within ε", color="tab:green")
    ax.scatter(bias[~fair], accuracy[~fair], label="outside ε", color="tab:grey")
    best = getattr(search, "best_index_", None)
    if best is not None:
        ax.scatter([bias[best]], [accuracy[best]], s=150, facecolors="none", edgecolors="black", label="refitted")
    ax.axvline(epsilon, color="tab:red", linestyle="--", label=f"ε = {epsilon}")
    ax.set_xlabel("|bias| (cross-validated mean)")
    ax.set_ylabel("balanced accuracy")
    ax.set_title("Candidates of the search")
    ax.legend(fontsize=8)
    return ax
