"""Charts of training runs and of predictions: learning curves (mean ± std
over runs), per-class accuracy bars, confusion matrices.

Figures are drawn with matplotlib's object API on an Agg canvas (no
display, no pyplot state); :func:`save_figure` writes a PNG for the tools
(``tools/analysis/plot_runs.py``, ``tools/analysis/per_class_accuracy.py
--plot``) and :func:`figure_to_array` gives the RGB image a hook hands to
the Visualizer (:class:`~mvitx.engine.hooks.VisualizationHook`).
"""
import glob
import json
import math
import os
import os.path as osp
from typing import Dict, List, Mapping, Sequence, Tuple

import numpy as np

#: ``{key: {step: value}}``: the scalars of one run.
Scalars = Dict[str, Dict[int, float]]


def _new_figure(size: Tuple[float, float]):
    # Imported here: the rest of mvitx never needs matplotlib, and the
    # object API on an Agg canvas needs no display and leaves pyplot's
    # global backend alone.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=size, dpi=100, layout='constrained')
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, out_file: str) -> None:
    """Writes ``fig`` as a PNG (folders are created)."""
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    fig.savefig(out_file)


def figure_to_array(fig) -> np.ndarray:
    """Renders ``fig``; returns an ``(H, W, 3)`` uint8 RGB image."""
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def load_scalars(work_dir: str) -> Scalars:
    """Reads the scalars mmengine's ``LocalVisBackend`` logged for a run.

    Every ``<work_dir>/<timestamp>/vis_data/scalars.json`` is read in
    timestamp order (a resumed run writes a new one); a later value of a
    key at a step replaces an earlier one.

    Args:
        work_dir (str): The run's work dir.

    Returns:
        dict: ``{key: {step: value}}`` of every numeric key but ``step``.

    Raises:
        FileNotFoundError: If the work dir holds no ``scalars.json``.
    """
    files = sorted(
        glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    if not files:
        raise FileNotFoundError(
            f'no <timestamp>/vis_data/scalars.json under {work_dir}')
    scalars: Scalars = {}
    for path in files:
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                record = json.loads(line)
                step = int(record['step'])
                for key, value in record.items():
                    if key != 'step' and isinstance(value, (int, float)):
                        scalars.setdefault(key, {})[step] = float(value)
    return scalars


def format_mean_std(values: Sequence[float], digits: int = 1) -> str:
    """``mean ± sample std`` (``ddof=1``) of ``values`` for results tables;
    a single value alone."""
    if len(values) == 1:
        return f'{values[0]:.{digits}f}'
    return (f'{np.mean(values):.{digits}f} ± '
            f'{np.std(values, ddof=1):.{digits}f}')


def aggregate_runs(
    runs: Sequence[Mapping[int, float]]
) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean and standard deviation of one key over runs, at every step any
    run logged, over the runs that logged it (a run stopped early leaves
    the later steps to the others).

    Args:
        runs (Sequence[Mapping[int, float]]): ``{step: value}`` per run.

    Returns:
        tuple[np.ndarray]: Steps ``(S,)`` ascending, mean ``(S,)``,
        population standard deviation ``(S,)`` (0 where one run logged)
        and the number of runs behind each step ``(S,)``.
    """
    steps = sorted(set().union(*(set(run) for run in runs)))
    per_step = [[run[s] for run in runs if s in run] for s in steps]
    return (np.array(steps, dtype=np.int64),
            np.array([np.mean(v) for v in per_step], dtype=np.float64),
            np.array([np.std(v) for v in per_step], dtype=np.float64),
            np.array([len(v) for v in per_step], dtype=np.int64))


def plot_learning_curves(groups: Mapping[str, Sequence[Scalars]],
                         keys: Sequence[str],
                         title: str = ''):
    """One panel per key: a line per group of runs (their mean at each
    step, over the runs that logged it) over a band of ± one standard
    deviation. Where some runs of a group have stopped (e.g. early
    stopping), the line goes on dashed over the runs still going, and the
    legend says so.

    Args:
        groups (Mapping[str, Sequence[Scalars]]): Legend label to the
            scalars (:func:`load_scalars`) of its runs, e.g. seeds.
        keys (Sequence[str]): Scalar keys, e.g. ``('loss', 'mean/top1')``.
        title (str): Figure title. Defaults to ''.

    Returns:
        matplotlib.figure.Figure: The figure.

    Raises:
        KeyError: If a run of a group never logged a key.
    """
    fig = _new_figure((5.5 * len(keys), 4))
    axes = fig.subplots(1, len(keys), squeeze=False)[0]
    for ax, key in zip(axes, keys):
        for label, runs in groups.items():
            missing = [i for i, run in enumerate(runs) if key not in run]
            if missing:
                raise KeyError(f'run(s) {missing} of {label!r} have no '
                               f'scalar {key!r}')
            steps, mean, std, counts = aggregate_runs(
                [run[key] for run in runs])
            n = len(runs)
            # Steps up to the last one every run logged: solid; after it
            # (fewer runs), dashed, joined to the solid part.
            full = np.flatnonzero(counts == n)
            end = full[-1] + 1 if len(full) else 0
            name = f'{label} (n={n})' if n > 1 else label
            if end < len(steps):
                name += ', dashed: fewer runs'
            marker = 'o' if len(steps) < 20 else None
            line, = ax.plot(
                steps[:end], mean[:end], marker=marker, ms=3, label=name)
            if end < len(steps):
                tail = slice(max(end - 1, 0), len(steps))
                ax.plot(
                    steps[tail],
                    mean[tail],
                    ls='--',
                    marker=marker,
                    ms=3,
                    color=line.get_color())
            if n > 1:
                ax.fill_between(
                    steps,
                    mean - std,
                    mean + std,
                    color=line.get_color(),
                    alpha=0.25,
                    lw=0)
        ax.set_title(key)
        ax.set_xlabel('iteration')
        ax.grid(True, alpha=0.4)
        ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_per_class_accuracy(names: Sequence[str],
                            accuracies: Sequence[float],
                            counts: Sequence[int],
                            title: str = 'Top-1 accuracy per class'):
    """Horizontal bars of the top-1 accuracy of each class, with its number
    of samples; a class without samples is marked, not drawn.

    Args:
        names (Sequence[str]): Class names.
        accuracies (Sequence[float]): Top-1 in percent, NaN for a class
            without samples.
        counts (Sequence[int]): Samples of each class.
        title (str): Figure title.

    Returns:
        matplotlib.figure.Figure: The figure.
    """
    num = len(names)
    fig = _new_figure((7, 1.2 + 0.3 * num))
    ax = fig.add_subplot()
    ys = np.arange(num)
    shown = [0.0 if math.isnan(a) else a for a in accuracies]
    ax.barh(ys, shown, color='#3182bd')
    for y, acc, count in zip(ys, accuracies, counts):
        text = 'no samples' if math.isnan(acc) else f'{acc:.1f}% of {count}'
        ax.text(
            (0 if math.isnan(acc) else acc) + 1,
            y,
            text,
            va='center',
            fontsize=8)
    ax.set_yticks(ys, labels=list(names), fontsize=8)
    ax.invert_yaxis()  # class 0 on top, as in the table
    ax.set_xlim(0, 115)
    ax.set_xticks([0, 20, 40, 60, 80, 100])
    ax.set_xlabel('top-1 (%)')
    ax.grid(True, axis='x', alpha=0.4)
    ax.set_title(title)
    return fig


def confusion_matrix(pred: np.ndarray, gt: np.ndarray,
                     num_classes: int) -> np.ndarray:
    """Counts of (true, predicted) label pairs.

    Args:
        pred (np.ndarray): Predicted labels ``(N,)``.
        gt (np.ndarray): True labels ``(N,)``.
        num_classes (int): Number of classes.

    Returns:
        np.ndarray: ``(num_classes, num_classes)`` int64, row = true label,
        column = predicted label.
    """
    index = np.asarray(gt, np.int64) * num_classes + np.asarray(pred, np.int64)
    return np.bincount(
        index, minlength=num_classes**2).reshape(num_classes, num_classes)


def plot_confusion_matrix(matrix: np.ndarray,
                          names: Sequence[str],
                          title: str = 'Confusion matrix'):
    """Draws a confusion matrix (rows true, columns predicted) with its
    counts; cell colours are the fraction of the row.

    Args:
        matrix (np.ndarray): ``(K, K)`` counts from
            :func:`confusion_matrix`.
        names (Sequence[str]): The ``K`` class names.
        title (str): Figure title.

    Returns:
        matplotlib.figure.Figure: The figure.
    """
    num = len(names)
    side = 2.5 + 0.45 * num
    fig = _new_figure((side + 1, side))
    ax = fig.add_subplot()
    rows = matrix.sum(1, keepdims=True)
    frac = matrix / np.maximum(rows, 1)
    image = ax.imshow(frac, cmap='Blues', vmin=0, vmax=1)
    for (i, j), count in np.ndenumerate(matrix):
        if count:
            ax.text(
                j,
                i,
                str(count),
                ha='center',
                va='center',
                fontsize=7,
                color='white' if frac[i, j] > 0.5 else 'black')
    ticks = np.arange(num)
    ax.set_xticks(ticks, labels=list(names), rotation=45, ha='right')
    ax.set_yticks(ticks, labels=list(names))
    ax.tick_params(labelsize=8)
    ax.set_xlabel('predicted')
    ax.set_ylabel('true')
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046, label='fraction of row')
    return fig


def per_class_from_confusion(
        matrix: np.ndarray) -> Tuple[List[float], List[int]]:
    """Top-1 accuracy (percent, NaN without samples) and sample count of
    each class of a confusion matrix."""
    counts = matrix.sum(1)
    accs = [
        100.0 * matrix[k, k] / c if c else float('nan')
        for k, c in enumerate(counts)
    ]
    return accs, [int(c) for c in counts]
