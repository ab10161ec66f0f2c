"""Convert an MViT checkpoint (torchvision, timm, PySlowFast, mmaction2)
into an mvitx ``CoTrainRecognizer`` checkpoint.

The output holds ``backbone.*`` and the classifier as
``heads.<source>.fc.*``; with ``--arch`` the backbone is built and the
weights are checked to load into it (image weights are inflated for a video
arch).

The input is loaded with ``torch.load(weights_only=True)`` and the
allowlist of :func:`mvitx.utils.load_checkpoint_file`, which refuses a file
that could run code; the official checkpoints are plain tensors and load
that way. ``--unsafe-load`` loads a file you trust that holds other objects
with ``weights_only=False``: such a file runs code while it loads.

Examples:
    python tools/convert/convert_mvit.py --src torchvision \\
        mvit_v2_s-ae3be167.pth mvitv2_s_16x4_k400.pth
    python tools/convert/convert_mvit.py --src timm --arch image-tiny \\
        mvitv2_tiny.pth mvitv2_t_in1k.pth
"""
import argparse
import sys

import torch

from mvitx.models.backbones import MViT
from mvitx.models.backbones.mvit_convert import (CONVERTERS,
                                                 convert_state_dict,
                                                 inflate_image_to_video,
                                                 to_checkpoint,
                                                 unwrap_checkpoint)
from mvitx.utils import CheckpointError, load_checkpoint_file

#: The dataset of each source format's classifier by default.
DEFAULT_SOURCE = dict(
    torchvision='k400', timm='in1k', slowfast='k400', mmaction2='k400')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert MViT weights to an mvitx checkpoint')
    parser.add_argument('--src', required=True, choices=sorted(CONVERTERS))
    parser.add_argument(
        '--arch',
        default=None,
        help='mvitx arch to load the weights into (checks them; inflates '
        'image weights for a video arch)')
    parser.add_argument(
        '--source',
        default=None,
        help='head name (dataset) of the classifier; default k400, in1k '
        'for timm')
    parser.add_argument(
        '--inflate',
        default='center',
        choices=('center', 'mean'),
        help='temporal kernel inflation of image weights')
    parser.add_argument(
        '--unsafe-load',
        action='store_true',
        help='load the input with weights_only=False: only for a file you '
        'trust, which then runs any code it holds')
    parser.add_argument('input', help='source checkpoint')
    parser.add_argument('output', help='mvitx checkpoint to write')
    return parser.parse_args(argv)


def convert(args) -> dict:
    """Reads ``args.input`` and returns the mvitx checkpoint.

    Raises:
        CheckpointError: Without ``args.unsafe_load``, the input is missing,
            damaged or refused by the allowlist; the message names it.
    """
    checkpoint = load_input(args.input, args.unsafe_load)
    backbone, head = convert_state_dict(
        unwrap_checkpoint(checkpoint), args.src)
    if args.arch is not None:
        model = MViT(arch=args.arch)
        backbone = inflate_image_to_video(backbone, model, args.inflate)
        missing, unexpected = model.load_state_dict(backbone, strict=False)
        if unexpected:
            raise KeyError(f'weights not in {args.arch}: {unexpected}')
        if missing:
            print(f'left at their initial values: {missing}')
    source = args.source or DEFAULT_SOURCE[args.src]
    return to_checkpoint(
        backbone, head, source,
        dict(src=args.src, arch=args.arch, converted_from=args.input))


def load_input(path: str, unsafe: bool) -> dict:
    """Loads the checkpoint to convert.

    Args:
        path (str): The checkpoint.
        unsafe (bool): Load with ``weights_only=False`` (``--unsafe-load``),
            after a warning on stderr.

    Returns:
        dict: The checkpoint as stored.

    Raises:
        CheckpointError: Without ``unsafe``, the file is missing, damaged
            or refused by the allowlist; the message names it and
            ``--unsafe-load``.
    """
    if unsafe:
        print(
            f'WARNING: --unsafe-load: loading {path} with '
            'weights_only=False; a crafted file runs any code it holds. '
            'Only convert files you trust.',
            file=sys.stderr)
        return torch.load(path, map_location='cpu', weights_only=False)
    try:
        return load_checkpoint_file(path, map_location='cpu')
    except CheckpointError as err:
        raise CheckpointError(
            f'{err} To convert a file you trust that holds more than '
            'tensors, add --unsafe-load (it loads with weights_only=False, '
            'so the file can run code).') from err


def main(argv=None):
    args = parse_args(argv)
    checkpoint = convert(args)
    torch.save(checkpoint, args.output)
    print(f'{len(checkpoint["state_dict"])} tensors -> {args.output}')


if __name__ == '__main__':
    main()
