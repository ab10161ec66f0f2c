"""Trains a model from a config: ``python tools/train.py CONFIG [options]``.

Multi-process and multi-node runs go through ``tools/dist_train.sh`` (GPUs
with NCCL, or CPUs with gloo) or ``tools/slurm_train.sh``.
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

from mvitx.utils import (register_all_modules, setup_distributed,
                         teardown_distributed)


def parse_args():
    parser = argparse.ArgumentParser(description='Train a mvitx model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='where to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from CKPT, or from the latest checkpoint in the work '
        'dir when no CKPT is given')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='train with bfloat16 autocast (BF16OptimWrapper)')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by (total batch size / auto_scale_lr.base_'
        'batch_size)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value (e.g. '
        'train_cfg.max_iters=100 model.backbone.arch=small)')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm'],
        default='none',
        help='job launcher')
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def merge_args(cfg: Config, args) -> Config:
    """Writes the command-line options into the config."""
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    if args.amp:
        # bf16 autocast needs no loss scaling and runs on CPU too; a config
        # that already asks for mmengine's AmpOptimWrapper keeps it.
        if cfg.optim_wrapper.get('type') != 'AmpOptimWrapper':
            cfg.optim_wrapper.type = 'BF16OptimWrapper'
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg:
            raise KeyError(
                f'--auto-scale-lr needs `auto_scale_lr = dict(enable=..., '
                f'base_batch_size=...)` in {args.config}')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    return cfg


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = merge_args(Config.fromfile(args.config), args)
    setup_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    runner.train()
    del runner  # its DDP wrapper holds the process group
    teardown_distributed()


if __name__ == '__main__':
    main()
