"""Recognizes a video or an image with a trained recognizer: prints the
top-k classes and optionally writes the input with them drawn on it.

    python tools/demo/recognize.py INPUT CONFIG CHECKPOINT \
        [--out annotated.mp4|.jpg] [--topk 5] [--source k400] [--device cpu]

INPUT goes through the test pipeline of its source in CONFIG (every source
of its modality unless ``--source`` names one), as ``tools/test.py`` would
run it (``mvitx.apis.inference_recognizer``).
"""
import argparse
from typing import Dict, List, Optional

from mvitx.apis import (Recognition, inference_recognizer, init_model,
                        topk_lines)
from mvitx.visualization import write_labelled


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('input', help='video or image file')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument(
        '--out',
        help='write the input with its top-k drawn on it: a video (.mp4) '
        'for a video, an image (.jpg, .png) for an image')
    parser.add_argument('--topk', type=int, default=5)
    parser.add_argument(
        '--source',
        help='the source (head) to use; default: every source '
        'of the input\'s modality')
    parser.add_argument('--device', default='cpu')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> Dict[str, Recognition]:
    args = parse_args(argv)
    model = init_model(args.config, args.checkpoint, args.device)
    results = inference_recognizer(model, args.input, args.source, args.topk)
    lines = topk_lines(results)
    print('\n'.join(lines))
    if args.out:
        write_labelled(args.input, args.out, lines)
        print(f'written to {args.out}')
    return results


if __name__ == '__main__':
    main()
