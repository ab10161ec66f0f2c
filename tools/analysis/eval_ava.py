"""Evaluates an AVA detection CSV with the official frame mAP@0.5, as
:class:`mvitx.evaluation.AVAMetric` does::

    python tools/analysis/eval_ava.py DET_CSV GT_CSV LABELMAP \\
        [--exclusions F] [--protocol {v2.2,latest}] [--train-ann F] \\
        [--long-tail-thresholds LOW HIGH] [--out results.json] \\
        [--plot per_class.png]

Prints the mAP (and with ``--train-ann`` the head/middle/tail mAPs);
``--out`` writes every result under the keys of ``AVAMetric`` (``mAP``,
``AP/<id>_<name>``, ``head_mAP``, ...; NaN as ``null``); ``--plot`` draws
per-class AP against training rows with the long-tail bands. The
protocols are described in ``docs/ava.md``.
"""
import argparse
import json
import math
from typing import Dict, Optional, Sequence

from mvitx.datasets.ava_files import read_labelmap
from mvitx.evaluation.metrics.ava_metric import (PROTOCOLS, ap_key,
                                                 class_frequencies,
                                                 evaluate_ava)
from mvitx.visualization import plot_ap_vs_frequency


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Official AVA frame mAP@0.5 of a detection CSV')
    parser.add_argument(
        'det_csv',
        help='detections: video_id,timestamp,x1,y1,x2,y2,action_id,score')
    parser.add_argument('gt_csv', help='ground-truth CSV')
    parser.add_argument('labelmap', help='action list .pbtxt (evaluated)')
    parser.add_argument(
        '--exclusions', help="excluded keyframes CSV (protocol 'v2.2')")
    parser.add_argument(
        '--protocol',
        choices=PROTOCOLS,
        default='v2.2',
        help='official evaluation version (default: v2.2)')
    parser.add_argument(
        '--train-ann', help='training CSV: long-tail buckets and --plot')
    parser.add_argument(
        '--long-tail-thresholds',
        type=int,
        nargs=2,
        default=(1000, 10000),
        metavar=('LOW', 'HIGH'),
        help='tail below LOW training rows, head from HIGH on '
        '(default: 1000 10000, AVA v2.2)')
    parser.add_argument('--out', help='JSON file of the results')
    parser.add_argument('--plot', help='PNG of per-class AP (--train-ann)')
    args = parser.parse_args(argv)
    if args.plot and not args.train_ann:
        parser.error('--plot needs --train-ann')
    return args


def main(argv: Optional[Sequence[str]] = None) -> Dict[str, float]:
    args = parse_args(argv)
    thresholds = tuple(args.long_tail_thresholds)
    metrics = evaluate_ava(
        args.det_csv,
        args.gt_csv,
        args.labelmap,
        exclude_file=args.exclusions,
        train_ann_file=args.train_ann,
        long_tail_thresholds=thresholds,
        protocol=args.protocol)
    print(f'protocol {args.protocol}')
    for key in ('mAP', 'head_mAP', 'middle_mAP', 'tail_mAP'):
        if key in metrics:
            print(f'{key}: {metrics[key]:.4f}')
    if args.out:
        # NaN is not JSON: classes without ground truth are null.
        results = {k: None if math.isnan(v) else v for k, v in metrics.items()}
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)
    if args.plot:
        categories, _ = read_labelmap(args.labelmap)
        counts = class_frequencies(args.train_ann)
        plot_ap_vs_frequency(
            [c['name'] for c in categories],
            [metrics[ap_key(c['id'], c['name'])] for c in categories],
            [counts.get(c['id'], 0) for c in categories],
            thresholds,
            args.plot,
            bucket_maps={
                b: metrics[f'{b}_mAP']
                for b in ('head', 'middle', 'tail')
            },
            title=f'Per-class AP ({args.protocol} protocol) against '
            'training rows')
    return metrics


if __name__ == '__main__':
    main()
