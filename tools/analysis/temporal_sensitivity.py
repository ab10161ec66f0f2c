"""Accuracy per source on the original test clips and on clips whose frames
were shuffled, reversed, or replaced by one repeated frame:
``python tools/analysis/temporal_sensitivity.py CONFIG CHECKPOINT
[--modes shuffle reverse repeat] [--out results.json]``.

Prints a markdown table (accuracy per mode and its change from the
original); ``--out`` also writes the metrics of every run as JSON.
"""
import argparse
import json
from typing import Optional, Sequence

from mmengine.config import DictAction

from mvitx.apis.temporal_sensitivity import (DEFAULT_MODES, format_sensitivity,
                                             temporal_sensitivity)
from mvitx.datasets.transforms import PermuteFrames
from mvitx.utils import load_config, merge_cli_options, register_all_modules


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Test accuracy under shuffled, reversed and frozen time')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--modes',
        nargs='+',
        default=list(DEFAULT_MODES),
        choices=PermuteFrames.MODES,
        help='frame orders to test besides the original')
    parser.add_argument('--seed', type=int, default=0, help='shuffle seed')
    parser.add_argument('--work-dir', help='where the runs log')
    parser.add_argument('--out', help='write all metrics to this JSON file')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value')
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    register_all_modules(init_default_scope=False)
    cfg = merge_cli_options(
        load_config(args.config, args.cfg_options), args.config, args.work_dir)
    results = temporal_sensitivity(cfg, args.checkpoint, args.modes, args.seed)
    print(format_sensitivity(results))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
