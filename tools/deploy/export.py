"""Exports a recognizer (backbone + one head) to ONNX or ``torch.export`` and
checks the export against PyTorch on a random input.

    python tools/deploy/export.py CONFIG CHECKPOINT \
        --format {onnx,torch.export} --shape T H W [--source S] [--out F]

The exported model takes normalised clips ``(N, 3, T, H, W)`` (images:
``T = 1``) of any batch size ``N`` and returns the head's logits
``(N, num_classes)`` (see ``mvitx/apis/export.py``). Prints the largest
absolute difference of the logits (ONNX Runtime or the exported program
vs. PyTorch) and exits with 1 when it is above ``--atol``.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

from mvitx.apis import (EXPORT_FORMATS, ExportableRecognizer,
                        export_recognizer, init_model, max_abs_difference)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument(
        '--format', required=True, choices=list(EXPORT_FORMATS))
    parser.add_argument(
        '--shape',
        required=True,
        type=int,
        nargs=3,
        metavar=('T', 'H', 'W'),
        help='input frames, height and width (T=1 for images)')
    parser.add_argument(
        '--source',
        help='the head to export; needed when the model has several')
    parser.add_argument(
        '--out',
        help='output file; default: CONFIG_STEM_SOURCE_TxHxW.onnx/.pt2 '
        'in the current directory')
    parser.add_argument(
        '--atol',
        type=float,
        default=1e-4,
        help='largest accepted absolute difference of the logits')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    model = init_model(args.config, args.checkpoint)
    recognizer = ExportableRecognizer(model, args.source)
    stem = osp.splitext(osp.basename(args.config))[0]
    shape = 'x'.join(map(str, args.shape))
    out = args.out or (f'{stem}_{recognizer.source}_{shape}'
                       f'{EXPORT_FORMATS[args.format]}')
    export_recognizer(recognizer, out, args.format, args.shape)
    diff = max_abs_difference(recognizer, out, args.format, args.shape)
    verdict = 'ok' if diff <= args.atol else f'above {args.atol:g}'
    print(f'{args.format} export written to {out}; max abs difference of '
          f'the logits vs. PyTorch: {diff:.3g} ({verdict})')
    return 0 if diff <= args.atol else 1


if __name__ == '__main__':
    sys.exit(main())
