"""Finds the videos (or images) of a dataset that cannot be opened or
decoded, and writes their list.

Examples::

    # every file of a dataset config's training set, 4 processes
    python tools/data/check_videos.py configs/xxx.py --split train \
        --workers 4 --out broken_train.txt
    # a `path label` list or a Kinetics CSV, paths relative to a folder
    python tools/data/check_videos.py data/k400/val.csv \
        --data-prefix data/k400/val --out broken_val.txt

A video is checked by opening it and decoding ``--num-frames`` frames
spread over it (first and last included); ``--num-frames 0`` decodes every
frame. The output has one broken path per line; the reasons are printed.
"""
import argparse
import multiprocessing
import os.path as osp
from functools import partial
from typing import List, Optional, Tuple

import numpy as np
from mmengine.config import Config
from tqdm import tqdm

from mvitx.datasets.transforms.loading import (BrokenInputError, DecordDecode,
                                               DecordInit, LoadImage,
                                               PyAVDecode, PyAVInit,
                                               TorchCodecDecode,
                                               TorchCodecInit)
from mvitx.registry import DATASETS
from mvitx.utils import load_config, register_all_modules

BACKENDS = dict(
    decord=(DecordInit, DecordDecode),
    pyav=(PyAVInit, PyAVDecode),
    torchcodec=(TorchCodecInit, TorchCodecDecode))


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        'target', help='dataset config (.py), list file or Kinetics CSV')
    parser.add_argument(
        '--split',
        default='train',
        choices=['train', 'val', 'test'],
        help='which dataloader of a config to scan (default: train)')
    parser.add_argument(
        '--data-prefix',
        default='',
        help='folder the paths of a list file are relative to')
    parser.add_argument(
        '--out', default='broken_files.txt', help='list of broken files')
    parser.add_argument(
        '--workers',
        type=int,
        default=1,
        help='processes to check in parallel (default: 1)')
    parser.add_argument(
        '--backend',
        default='pyav',
        choices=sorted(BACKENDS),
        help="video decoder the training pipeline uses (default: pyav, the "
        "configs' decoder)")
    parser.add_argument(
        '--num-frames',
        type=int,
        default=3,
        help='frames decoded per video, 0 for all (default: 3)')
    return parser.parse_args(argv)


def leaf_dataset_cfgs(cfg: dict) -> List[dict]:
    """The media datasets inside wrapper configs (``datasets=`` lists or
    dicts such as ``CoTrainDataset`` or ``ConcatDataset``, ``dataset=`` as
    in ``RepeatDataset``)."""
    inner = cfg.get('datasets', cfg.get('dataset'))
    if inner is None:
        return [cfg]
    if isinstance(inner, dict) and 'type' in inner:
        inner = [inner]
    elif isinstance(inner, dict):
        inner = list(inner.values())
    return [leaf for sub in inner for leaf in leaf_dataset_cfgs(sub)]


def dataset_files(args: argparse.Namespace) -> List[str]:
    """The media paths of the dataset named by ``args.target``."""
    register_all_modules()
    if args.target.endswith('.py'):
        cfg = load_config(args.target).get(f'{args.split}_dataloader')
        if cfg is None:
            raise SystemExit(f'{args.target} has no {args.split}_dataloader')
        dataset_cfgs = [
            dict(leaf, pipeline=[], lazy_init=False)
            for leaf in leaf_dataset_cfgs(cfg['dataset'])
        ]
    else:
        dataset_cfgs = [
            dict(
                type='VideoDataset',
                ann_file=args.target,
                data_prefix=dict(video=args.data_prefix),
                pipeline=[])
        ]
    files = []
    for dataset_cfg in dataset_cfgs:
        dataset = DATASETS.build(dataset_cfg)
        files.extend(
            info.get('filename', info.get('img_path'))
            for info in map(dataset.get_data_info, range(len(dataset))))
    return files


def check_file(path: str, num_frames: int,
               backend: str) -> Tuple[str, Optional[str]]:
    """Returns ``(path, None)`` if ``path`` loads, else ``(path, reason)``.
    """
    try:
        if osp.splitext(path)[1].lower() in ('.jpg', '.jpeg', '.png', '.bmp',
                                             '.webp'):
            LoadImage().transform(dict(img_path=path))
            return path, None
        init, decode = BACKENDS[backend]
        results = init().transform(dict(filename=path))
        total = results['total_frames']
        count = total if num_frames <= 0 else min(num_frames, total)
        results['frame_inds'] = np.linspace(0, total - 1, count).astype(int)
        decode().transform(results)
    except BrokenInputError as err:
        return path, err.reason
    return path, None


def main(argv: Optional[List[str]] = None) -> List[str]:
    args = parse_args(argv)
    files = dataset_files(args)
    check = partial(
        check_file, num_frames=args.num_frames, backend=args.backend)
    broken = []
    pool = multiprocessing.Pool(args.workers) if args.workers > 1 else None
    checked = (
        pool.imap(check, files, chunksize=4) if pool else map(check, files))
    try:
        for path, reason in tqdm(
                checked, total=len(files), desc='checking', unit='file'):
            if reason is not None:
                broken.append(path)
                tqdm.write(f'broken: {path}: {reason}')
    finally:
        if pool:
            pool.close()
            pool.join()
    with open(args.out, 'w') as f:
        f.writelines(p + '\n' for p in broken)
    print(f'{len(broken)} of {len(files)} files are broken; '
          f'list written to {args.out}')
    return broken


if __name__ == '__main__':
    main()
