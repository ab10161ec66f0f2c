"""Top-1 accuracy overall, per class and per group of classes from a dump of
predictions: ``python tools/analysis/per_class_accuracy.py PREDS.pkl
[PREDS.pkl ...] CLASSES.txt [--groups fine=hand closes,hand opens] [--plot
out.png]``.

``PREDS.pkl`` is written by ``tools/test.py CONFIG CKPT --dump PREDS.pkl``:
a list of data samples as dicts, each with ``pred_score`` (num_classes,) and
``gt_label`` (1,). ``CLASSES.txt`` has one class name per line; line ``i``
names label ``i``. The result is printed as a markdown table; with several
dumps (runs of a study, e.g. seeds), each row gives the mean ± sample std
over the runs and every run's value. ``--plot`` also draws the per-class
rows (their means) as a bar chart.
"""
import argparse
from typing import Dict, List, Optional, Sequence

import numpy as np

from mvitx.utils import load_pickle
from mvitx.visualization import (format_mean_std, plot_per_class_accuracy,
                                 save_figure)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Top-1 accuracy overall, per class and per group')
    parser.add_argument(
        'preds',
        nargs='+',
        help='pickles dumped by tools/test.py --dump (several: one per run)')
    parser.add_argument('classes', help='text file, one class name a line')
    parser.add_argument(
        '--groups',
        nargs='+',
        default=[],
        metavar='NAME=CLS1,CLS2',
        help='named groups of classes (by class name) to report together')
    parser.add_argument(
        '--plot', metavar='OUT.png', help='also write a per-class bar chart')
    return parser.parse_args(argv)


def _to_numpy(value) -> np.ndarray:
    """Converts a tensor or array-like to a numpy array."""
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def load_predictions(path: str) -> Dict[str, np.ndarray]:
    """Reads the predicted and true labels from a dump of data samples.

    Args:
        path (str): Pickle with a list of dicts holding ``pred_score``
            (num_classes,) and ``gt_label`` (1,).

    Returns:
        dict: ``pred`` (N,) int predicted labels (arg-max of the scores) and
        ``gt`` (N,) int true labels.
    """
    samples = load_pickle(path, tensors=True)
    pred = [int(_to_numpy(s['pred_score']).argmax()) for s in samples]
    gt = [int(_to_numpy(s['gt_label']).reshape(-1)[0]) for s in samples]
    return dict(pred=np.array(pred, np.int64), gt=np.array(gt, np.int64))


def parse_groups(specs: Sequence[str],
                 classes: List[str]) -> Dict[str, List[int]]:
    """Turns ``name=cls1,cls2`` specs into label ids.

    Args:
        specs (Sequence[str]): Group specs; class names may contain spaces
            but not commas.
        classes (list[str]): Class names, index = label.

    Returns:
        dict[str, list[int]]: Group name to its labels, in spec order.
    """
    groups = {}
    for spec in specs:
        name, sep, members = spec.partition('=')
        if not sep or not name or not members:
            raise ValueError(f'group {spec!r} is not NAME=CLS1,CLS2')
        labels = []
        for member in members.split(','):
            member = member.strip()
            if member not in classes:
                raise ValueError(f'group {name!r}: unknown class {member!r}')
            labels.append(classes.index(member))
        groups[name] = labels
    return groups


def top1_table(pred: np.ndarray, gt: np.ndarray, classes: List[str],
               groups: Dict[str, List[int]]) -> List[tuple]:
    """Top-1 accuracy of every class, every group and of all samples.

    Args:
        pred (np.ndarray): Predicted labels, shape (N,).
        gt (np.ndarray): True labels, shape (N,).
        classes (list[str]): Class names, index = label.
        groups (dict[str, list[int]]): Group name to its labels.

    Returns:
        list[tuple]: Rows ``(name, top-1 in percent or nan, num samples)``:
        ``overall`` first, then the classes, then the groups. A class or
        group without samples has ``nan`` accuracy.
    """
    correct = pred == gt

    def row(name, mask):
        num = int(mask.sum())
        acc = 100.0 * correct[mask].mean() if num else float('nan')
        return name, acc, num

    rows = [row('overall', np.ones_like(correct))]
    rows += [row(name, gt == label) for label, name in enumerate(classes)]
    rows += [
        row(f'group: {name}', np.isin(gt, labels))
        for name, labels in groups.items()
    ]
    return rows


def format_markdown(runs: List[List[tuple]]) -> str:
    """Formats the rows of :func:`top1_table` of one or several runs as a
    markdown table (several: mean ± sample std and the value of each run)."""
    if len(runs) == 1:
        lines = ['| classes | top-1 (%) | samples |', '|---|---:|---:|']
        lines += [
            f'| {name} | {acc:.2f} | {num} |' for name, acc, num in runs[0]
        ]
        return '\n'.join(lines)
    lines = [
        f'| classes | top-1 (%), mean ± std of {len(runs)} runs | per run '
        '| samples per run |', '|---|---:|---|---:|'
    ]
    for rows in zip(*runs):
        accs = np.array([acc for _, acc, _ in rows])
        nums = sorted({num for _, _, num in rows})
        lines.append(f'| {rows[0][0]} | {format_mean_std(accs, 2)} | ' +
                     ', '.join(f'{acc:.2f}' for acc in accs) + ' | ' +
                     ', '.join(str(num) for num in nums) + ' |')
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> List[List[tuple]]:
    """Prints the table; returns the rows of :func:`top1_table` of each
    dump, in the order given."""
    args = parse_args(argv)
    with open(args.classes) as f:
        classes = [line.strip() for line in f if line.strip()]
    groups = parse_groups(args.groups, classes)
    runs = []
    for path in args.preds:
        preds = load_predictions(path)
        runs.append(top1_table(preds['pred'], preds['gt'], classes, groups))
    print(format_markdown(runs))
    if args.plot:
        # The class rows: after `overall`, before the groups.
        class_rows = [rows[1:1 + len(classes)] for rows in runs]
        names = [name for name, _, _ in class_rows[0]]
        accs = np.mean([[acc for _, acc, _ in rows] for rows in class_rows], 0)
        counts = [num for _, _, num in class_rows[0]]
        overall = np.mean([rows[0][1] for rows in runs])
        runs_text = f', mean of {len(runs)} runs' if len(runs) > 1 else ''
        save_figure(
            plot_per_class_accuracy(
                names, accs, counts,
                f'Top-1 per class ({runs[0][0][2]} samples{runs_text}, '
                f'overall {overall:.1f}%)'), args.plot)
    return runs


if __name__ == '__main__':
    main()
