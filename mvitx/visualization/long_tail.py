"""Per-class AP against training frequency with the long-tail bands of
:class:`~mvitx.evaluation.AVAMetric` (``tools/analysis/eval_ava.py
--plot``)."""
import math
import os
import os.path as osp
from typing import Dict, Optional, Sequence, Tuple

from mvitx.evaluation.metrics.ava_metric import long_tail_bucket

#: Band colour and point colour of each bucket.
BUCKET_COLORS = {
    'tail': ('#fde0dd', '#c51b8a'),
    'middle': ('#fff7bc', '#d95f0e'),
    'head': ('#e5f5e0', '#31a354'),
}


def plot_ap_vs_frequency(
        names: Sequence[str],
        aps: Sequence[float],
        counts: Sequence[int],
        thresholds: Tuple[int, int],
        out_file: str,
        bucket_maps: Optional[Dict[str, float]] = None,
        title: str = 'Per-class AP against training rows') -> None:
    """Draws each class's AP against its number of training rows (log
    scale) over the tail, middle and head bands, and writes a PNG.

    Classes with AP NaN (no ground truth in the evaluated split) are left
    out and counted in the title; a class without training rows is drawn
    at 1 row. A dashed line in each band marks its mAP.

    Args:
        names (Sequence[str]): Class names.
        aps (Sequence[float]): AP of each class, in ``[0, 1]`` or NaN.
        counts (Sequence[int]): Training rows of each class.
        thresholds (tuple[int, int]): Tail/middle and middle/head row
            counts (``long_tail_thresholds``).
        out_file (str): The PNG to write (folders are created).
        bucket_maps (dict[str, float], optional): ``head``/``middle``/
            ``tail`` mAP, written in the bands. Defaults to None.
        title (str): Figure title.
    """
    # Imported here: the rest of mvitx never needs matplotlib, and the
    # object API on an Agg canvas needs no display and leaves pyplot's
    # global backend alone.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, NullFormatter

    shown = [(n, ap, max(c, 1)) for n, ap, c in zip(names, aps, counts)
             if not math.isnan(ap)]
    fig = Figure(figsize=(11, 5.5), dpi=120, layout='constrained')
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.set_xscale('log')
    xs = [c for _, _, c in shown] or [1]
    left = min(min(xs), thresholds[0]) / 2
    right = max(max(xs), thresholds[1]) * 2
    bands = zip(('tail', 'middle', 'head'), (left, *thresholds),
                (*thresholds, right))
    for bucket, start, end in bands:
        ax.axvspan(start, end, color=BUCKET_COLORS[bucket][0], zorder=0)
        label = bucket
        if bucket_maps and not math.isnan(bucket_maps.get(bucket, math.nan)):
            label += f' mAP {bucket_maps[bucket]:.3f}'
            ax.hlines(
                bucket_maps[bucket],
                start,
                end,
                colors=BUCKET_COLORS[bucket][1],
                linestyles='dashed',
                zorder=2)
        ax.text(
            math.sqrt(start * end),
            1.04,
            label,
            ha='center',
            va='bottom',
            fontsize=10,
            fontweight='bold')
    for name, ap, count in shown:
        color = BUCKET_COLORS[long_tail_bucket(count, thresholds)][1]
        ax.scatter(count, ap, s=28, color=color, zorder=3)
        ax.annotate(
            name, (count, ap),
            xytext=(4, 3),
            textcoords='offset points',
            fontsize=7,
            rotation=20,
            zorder=4)
    ax.set_xlim(left, right)
    # Plain row counts (1000, not 10^3); a little room below AP 0.
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f'{v:g}'))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(-0.03, 1.12)
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.grid(True, which='major', alpha=0.4)
    ax.set_xlabel('training rows of the class (one per actor and action; '
                  f'tail < {thresholds[0]} <= middle < {thresholds[1]} '
                  '<= head)')
    ax.set_ylabel('AP')
    skipped = len(names) - len(shown)
    if skipped:
        title += (f' ({skipped} class{"es" if skipped > 1 else ""} without '
                  'ground truth not shown)')
    ax.set_title(title, pad=22)
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    fig.savefig(out_file)
