"""Evaluates a checkpoint: ``python tools/test.py CONFIG CHECKPOINT``."""
import argparse
import os

from mmengine.config import DictAction
from mmengine.runner import Runner

from mvitx.utils import (load_config, merge_cli_options, quiet_library_logs,
                         register_all_modules, setup_distributed,
                         teardown_distributed)


def parse_args():
    parser = argparse.ArgumentParser(description='Test a mvitx model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        '--work-dir',
        help='where to save logs and results (a relative evaluator '
        'out_file goes here too)')
    parser.add_argument(
        '--dump', help='dump the predictions to this pickle file')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, key=value, variables too (clip_len=32 '
        'changes every \'${clip_len}\' of the config); an unknown top-level '
        'key or a non-number for a number is an error')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm'],
        default='none',
        help='job launcher')
    parser.add_argument('--local-rank', '--local_rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main():
    args = parse_args()
    register_all_modules(init_default_scope=False)
    cfg = merge_cli_options(
        load_config(args.config, args.cfg_options), args.config, args.work_dir)
    cfg.load_from = args.checkpoint
    if args.dump is not None:
        cfg.test_evaluator = [
            *(cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else
              [cfg.test_evaluator]),
            dict(type='DumpResults', out_file_path=args.dump)
        ]
    setup_distributed(cfg, args.launcher)
    runner = Runner.from_cfg(cfg)
    quiet_library_logs(runner.logger)
    runner.test()
    del runner  # its DDP wrapper holds the process group
    teardown_distributed()


if __name__ == '__main__':
    main()
