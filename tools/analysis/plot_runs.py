"""Learning curves of runs: ``python tools/analysis/plot_runs.py WORK_DIR...
--out FIG.png [--keys loss mean/top1] [--group NAME=DIR1,DIR2 ...]``.

Reads ``<work_dir>/<timestamp>/vis_data/scalars.json`` of every run. Each
positional work dir is its own curve (labelled by its folder name); each
``--group`` is one curve over several runs (e.g. seeds): their mean at the
steps all of them logged, with a band of ± one standard deviation.
"""
import argparse
import os.path as osp
from typing import Dict, List, Optional, Sequence

from mvitx.visualization import load_scalars, plot_learning_curves, save_figure


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


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    groups = parse_groups(args.work_dirs, args.group)
    runs = {
        name: [load_scalars(d) for d in dirs]
        for name, dirs in groups.items()
    }
    save_figure(plot_learning_curves(runs, args.keys, args.title), args.out)
    print(f'[plot_runs] wrote {args.out}')


if __name__ == '__main__':
    main()
