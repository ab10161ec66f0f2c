"""Trains a model from a config: ``python tools/train.py CONFIG [options]``.

Multi-process and multi-node runs go through ``tools/dist_train.sh`` (GPUs
with NCCL, or CPUs with gloo) or ``tools/slurm_train.sh``.
``--strategy fsdp`` (GPUs only) shards the model with FSDP through
mmengine's ``FlexibleRunner`` (``mvitx.engine.runner.fsdp_strategy``).
"""
import argparse
import os

from mmengine.config import Config, DictAction

from mvitx.engine.runner import build_runner, fsdp_strategy
from mvitx.utils import (find_resume_checkpoint, load_config,
                         merge_cli_options, quiet_library_logs,
                         register_all_modules, setup_distributed,
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
        'dir (the file named in its last_checkpoint) when no CKPT is given')
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
        '--strategy',
        choices=['ddp', 'fsdp'],
        default='ddp',
        help='ddp: one full model per process (mmengine Runner); fsdp: '
        'weights, gradients and optimiser state sharded over the processes '
        '(mmengine FlexibleRunner; a `strategy` in the config is used too)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value (e.g. '
        'train_cfg.max_iters=100 model.backbone.arch=small), variables too '
        '(clip_len=32 changes every \'${clip_len}\' of the config); an '
        'unknown top-level key or a non-number for a number is an error')
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
    """Writes the command-line options other than ``--cfg-options`` into
    the config (``load_config`` merged those before it resolved the
    config's variables)."""
    merge_cli_options(cfg, args.config, args.work_dir)
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
    if args.strategy == 'fsdp':
        cfg.strategy = fsdp_strategy(cfg)
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, find_resume_checkpoint(cfg)
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    return cfg


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = merge_args(load_config(args.config, args.cfg_options), args)
    setup_distributed(cfg, args.launcher)
    runner = build_runner(cfg)
    quiet_library_logs(runner.logger)
    runner.train()
    del runner  # its DDP wrapper holds the process group
    teardown_distributed()


if __name__ == '__main__':
    main()
