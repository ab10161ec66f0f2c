"""Proposes a class map between two label spaces (image -> video) for
review, by lexical matching of the class names
(:mod:`mvitx.datasets.class_maps.matching`; ``docs/cotraining.md``,
"Label-space bridge").

Examples::

    python tools/data/make_class_map.py imagenet_names.txt k400_names.txt \
        --out in1k_k400.csv

``SRC_NAMES`` and ``DST_NAMES`` hold one class name a line, in id order.
The output lists up to ``--top-k`` candidate video classes per image class
with ``reviewed=no``: delete the wrong rows (keep at most one per image
class), set ``reviewed=yes`` on the others, and say in the header comment
how the file was reviewed; only then does it load
(:func:`mvitx.datasets.class_maps.read_class_map`).
"""
import argparse
import os.path as osp
from typing import List, Optional

from mvitx.datasets.base_dataset import read_names_file
from mvitx.datasets.class_maps.matching import propose, write_candidates


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Propose an image -> video class map for review')
    parser.add_argument(
        'src_names', help='source (image) class names, one a line')
    parser.add_argument(
        'dst_names', help='destination (video) class names, one a line')
    parser.add_argument('--out', required=True, help='output CSV')
    parser.add_argument(
        '--min-confidence',
        type=float,
        default=0.4,
        help='lowest confidence kept (Dice overlap of the name tokens)')
    parser.add_argument(
        '--top-k',
        type=int,
        default=3,
        help='most candidate video classes per image class')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    src, dst = read_names_file(args.src_names), read_names_file(args.dst_names)
    candidates = propose(src, dst, args.min_confidence, args.top_k)
    write_candidates(args.out, candidates, [
        f'made by tools/data/make_class_map.py {osp.basename(args.src_names)}'
        f' {osp.basename(args.dst_names)} --min-confidence '
        f'{args.min_confidence} --top-k {args.top_k}',
        'NOT REVIEWED: delete wrong rows, keep at most one per src_id, set '
        'reviewed=yes'
    ])
    print(f'{len(candidates)} candidate pairs for '
          f'{len({c.src_id for c in candidates})} of {len(src)} source '
          f'classes written to {args.out}')
    return len(candidates)


if __name__ == '__main__':
    main()
