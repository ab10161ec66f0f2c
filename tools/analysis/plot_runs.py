"""Learning curves of runs: ``python tools/analysis/plot_runs.py WORK_DIR...
--out FIG.png [--keys loss mean/top1] [--group NAME=DIR1,DIR2 ...]``.

Reads ``<work_dir>/<timestamp>/vis_data/scalars.json`` of every run. Each
positional work dir is its own curve (labelled by its folder name); each
``--group`` is one curve over several runs (e.g. seeds): their mean at each
step over the runs that logged it, with a band of ± one standard deviation;
after the first run of a group stops (early stopping), the curve is dashed.

With ``--table KEY`` it also prints a markdown table of ``KEY`` per group:
the best value of each run (mean ± sample std over runs, and each run's),
the step of each best, each run's last logged step, and the value at the
``--at`` steps (over the runs that logged them), for results tables.
"""
import argparse
import os.path as osp
from typing import Dict, List, Mapping, Optional, Sequence

from mvitx.visualization import (format_mean_std, load_scalars,
                                 plot_learning_curves, save_figure)
from mvitx.visualization.plots import Scalars


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Plot learning curves')
    parser.add_argument('work_dirs', nargs='*', help='one curve per run')
    parser.add_argument(
        '--group',
        nargs='+',
        default=[],
        metavar='NAME=DIR1,DIR2',
        help='one curve (mean ± std) over several runs')
    parser.add_argument('--out', required=True, help='the PNG to write')
    parser.add_argument(
        '--keys',
        nargs='+',
        default=['loss', 'mean/top1'],
        help='scalars to plot, one panel each')
    parser.add_argument('--title', default='', help='figure title')
    parser.add_argument(
        '--table',
        metavar='KEY',
        help='print a markdown table of the best KEY per group (higher is '
        'better)')
    parser.add_argument(
        '--at',
        nargs='+',
        type=int,
        default=[],
        metavar='STEP',
        help='with --table, also the value of KEY at these steps')
    parser.add_argument(
        '--digits',
        type=int,
        default=1,
        help='with --table, digits after the decimal point')
    args = parser.parse_args(argv)
    if not args.work_dirs and not args.group:
        parser.error('give work dirs or --group')
    return args


def parse_groups(work_dirs: Sequence[str],
                 specs: Sequence[str]) -> Dict[str, List[str]]:
    """Legend label to work dirs: a single run per positional work dir,
    then the ``NAME=DIR1,DIR2`` groups."""
    groups = {osp.basename(osp.normpath(d)): [d] for d in work_dirs}
    for spec in specs:
        name, sep, dirs = spec.partition('=')
        if not sep or not name or not dirs:
            raise ValueError(f'group {spec!r} is not NAME=DIR1,DIR2')
        groups[name] = dirs.split(',')
    return groups


def summary_table(groups: Mapping[str, Sequence[Scalars]],
                  key: str,
                  at_steps: Sequence[int] = (),
                  digits: int = 1) -> str:
    """A markdown table of ``key`` per group of runs (see the module
    docstring); higher values are better.

    Raises:
        KeyError: If a run did not log ``key``.
    """
    header = [
        'group', 'runs', f'best {key}', 'per run', 'step of best', 'last step'
    ] + [f'at {step}' for step in at_steps]
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for name, runs in groups.items():
        curves = []
        for run in runs:
            if key not in run:
                raise KeyError(f'a run of {name} did not log {key!r}; it '
                               f'logged {sorted(run)}')
            curves.append(run[key])
        best_steps = [
            max(curve, key=lambda s: (curve[s], -s)) for curve in curves
        ]
        best = [curve[s] for curve, s in zip(curves, best_steps)]
        row = [
            name,
            str(len(runs)),
            format_mean_std(best, digits), ', '.join(f'{v:.{digits}f}'
                                                     for v in best),
            ', '.join(map(str, best_steps)),
            ', '.join(str(max(curve)) for curve in curves)
        ]
        for step in at_steps:
            values = [curve[step] for curve in curves if step in curve]
            cell = format_mean_std(values, digits) if values else '-'
            if values and len(values) < len(curves):
                cell += f' (n={len(values)})'
            row.append(cell)
        lines.append('| ' + ' | '.join(row) + ' |')
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    groups = parse_groups(args.work_dirs, args.group)
    runs = {
        name: [load_scalars(d) for d in dirs]
        for name, dirs in groups.items()
    }
    save_figure(plot_learning_curves(runs, args.keys, args.title), args.out)
    print(f'[plot_runs] wrote {args.out}')
    if args.table:
        print(summary_table(runs, args.table, args.at, args.digits))


if __name__ == '__main__':
    main()
