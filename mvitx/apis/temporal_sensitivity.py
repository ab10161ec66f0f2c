"""How much a recognizer depends on the order of time: its test accuracy
per source on the original clips and on clips whose frames were shuffled,
reversed, or replaced by one repeated frame
(``tools/analysis/temporal_sensitivity.py``).

A "bag of frames" classifier scores the same on all of them; a model that
uses motion loses accuracy, most on classes that are each other's time
reversal.
"""
import copy
import os.path as osp
from collections import OrderedDict
from typing import Dict, Sequence

from mmengine.config import Config
from mmengine.runner import Runner

#: Pipeline steps after which the frames of a clip exist.
DECODE_STEPS = ('DecordDecode', 'PyAVDecode')
#: What is measured by default, besides the original clips.
DEFAULT_MODES = ('shuffle', 'reverse', 'repeat')


def _permute_pipelines(node, mode: str, seed: int) -> int:
    """Inserts ``PermuteFrames`` after the decoding step of every pipeline
    inside ``node`` (a dataset config, or nested ones); returns how many."""
    count = 0
    if isinstance(node, dict):
        pipeline = node.get('pipeline')
        if isinstance(pipeline, list):
            steps = [
                i for i, step in enumerate(pipeline)
                if isinstance(step, dict) and step.get('type') in DECODE_STEPS
            ]
            for i in reversed(steps):
                pipeline.insert(
                    i + 1, dict(type='PermuteFrames', mode=mode, seed=seed))
            count += len(steps)
        for key, value in node.items():
            if key != 'pipeline':
                count += _permute_pipelines(value, mode, seed)
    elif isinstance(node, (list, tuple)):
        count += sum(_permute_pipelines(v, mode, seed) for v in node)
    return count


def permuted_test_config(cfg: Config, mode: str, seed: int = 0) -> Config:
    """A copy of ``cfg`` whose test videos have their frames reordered by
    ``PermuteFrames(mode)`` right after decoding (image sources are left as
    they are).

    Raises:
        ValueError: The test dataloader decodes no video.
    """
    cfg = copy.deepcopy(cfg)
    if not _permute_pipelines(cfg.test_dataloader.dataset, mode, seed):
        raise ValueError('test_dataloader has no video pipeline (no '
                         f'{" or ".join(DECODE_STEPS)} step) to permute')
    return cfg


def temporal_sensitivity(cfg: Config,
                         checkpoint: str,
                         modes: Sequence[str] = DEFAULT_MODES,
                         seed: int = 0) -> Dict[str, Dict[str, float]]:
    """Tests ``checkpoint`` on the original and on reordered clips.

    Args:
        cfg (Config): The model's config, with its final ``work_dir``; each
            run logs into ``<work_dir>/temporal_<mode>``.
        checkpoint (str): The weights (loaded by the Runner's safe loader).
        modes (Sequence[str]): ``PermuteFrames`` modes. Defaults to
            :data:`DEFAULT_MODES`.
        seed (int): Seed of the shuffles. Defaults to 0.

    Returns:
        dict: ``{'original': metrics, mode: metrics, ...}``, the test
        metrics of each run (e.g. ``<source>/top1``).
    """
    results = OrderedDict()
    for mode in ('original', *modes):
        run_cfg = (
            copy.deepcopy(cfg) if mode == 'original' else permuted_test_config(
                cfg, mode, seed))
        run_cfg.work_dir = osp.join(cfg.work_dir, f'temporal_{mode}')
        run_cfg.load_from = checkpoint
        run_cfg.resume = False
        runner = Runner.from_cfg(run_cfg)
        results[mode] = dict(runner.test())
        del runner
    return results


def format_sensitivity(results: Dict[str, Dict[str, float]]) -> str:
    """A markdown table: one row per top-1 metric, the original accuracy
    and, for each mode, the accuracy and its change."""
    modes = [m for m in results if m != 'original']
    keys = [k for k in results['original'] if k.endswith('/top1')]
    lines = [
        '| metric | original | ' + ' | '.join(modes) + ' |',
        '|---|---:|' + '---:|' * len(modes),
    ]
    for key in keys:
        base = results['original'][key]
        cells = [
            f'{results[m][key]:.2f} ({results[m][key] - base:+.2f})'
            for m in modes
        ]
        lines.append(f'| {key} | {base:.2f} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)
