"""Repeated augmentation: real mp4 clips go through the real dataset,
pipeline, batch sampler and DataLoader; every video is decoded once per
``times`` views and an epoch covers every video once."""
import os.path as osp
from collections import Counter

import cv2
import numpy as np
import pytest
import torch
from mmengine.runner import Runner

from mvitx.datasets.samplers import CoTrainBatchSampler
from mvitx.datasets.transforms import DecordDecode
from mvitx.registry import TRANSFORMS
from mvitx.utils import register_all_modules

VIDEOS, TIMES, BATCH = 6, 2, 4
DECODED = Counter()


@TRANSFORMS.register_module(force=True)
class CountedDecordDecode(DecordDecode):
    """``DecordDecode`` that counts its calls per file in ``DECODED``."""

    def transform(self, results):
        DECODED[osp.basename(results['filename'])] += 1
        return super().transform(results)


@pytest.fixture(scope='module')
def video_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('videos')
    lines = []
    for i in range(VIDEOS):
        writer = cv2.VideoWriter(
            str(root / f'v{i}.mp4'), cv2.VideoWriter_fourcc(*'mp4v'), 8,
            (32, 32))
        # A gradient, so that different crops differ.
        frame = np.add.outer(np.arange(32), np.arange(32)) * 4 + i
        for _ in range(4):
            writer.write(np.repeat(frame[..., None], 3, 2).astype(np.uint8))
        writer.release()
        lines.append(f'v{i}.mp4 {i % 2}')
    (root / 'videos.txt').write_text('\n'.join(lines) + '\n')
    return str(root)


def _dataloader(root, after='CountedDecordDecode'):
    register_all_modules()
    pipeline = [
        dict(type='DecordInit'),
        dict(type='SampleFrames', clip_len=2, frame_interval=1),
        dict(type='CountedDecordDecode'),
        dict(type='RandomResizedCrop', area_range=(0.1, 0.3)),
        dict(type='Resize', scale=(8, 8)),
        dict(type='PackActionInputs'),
    ]
    return Runner.build_dataloader(
        dict(
            batch_size=BATCH,
            num_workers=0,
            sampler=dict(type='DefaultSampler', shuffle=True, seed=0),
            batch_sampler=dict(type='CoTrainBatchSampler'),
            dataset=dict(
                type='CoTrainDataset',
                repeat_aug=dict(vid=dict(times=TIMES, after=after)),
                datasets=dict(
                    vid=dict(
                        type='VideoDataset',
                        source='vid',
                        ann_file=osp.join(root, 'videos.txt'),
                        data_prefix=dict(video=root),
                        pipeline=pipeline)))))


def test_one_decode_per_video_and_an_epoch_covers_every_video(video_root):
    loader = _dataloader(video_root)
    assert len(loader.batch_sampler) == VIDEOS * TIMES // BATCH
    DECODED.clear()
    seen = Counter()
    batches = iter(loader)
    for _ in range(len(loader.batch_sampler)):
        batch = next(batches)
        assert len(batch['inputs']) == BATCH
        names = [
            osp.basename(s.metainfo['filename']) for s in batch['data_samples']
        ]
        # The views of a video are neighbours, and differ (random crops).
        for i in range(0, BATCH, TIMES):
            assert len(set(names[i:i + TIMES])) == 1
            assert not torch.equal(batch['inputs'][i], batch['inputs'][i + 1])
        seen.update(names)
    assert DECODED == Counter({f'v{i}.mp4': 1 for i in range(VIDEOS)})
    assert seen == Counter({f'v{i}.mp4': TIMES for i in range(VIDEOS)})


def test_batch_must_hold_whole_repeats(video_root):
    loader = _dataloader(video_root)
    with pytest.raises(ValueError, match='multiple of its repeated'):
        CoTrainBatchSampler(loader.batch_sampler.sampler, batch_size=3)


def test_unknown_split_transform_fails_loudly(video_root):
    with pytest.raises(ValueError, match="no 'Decode'"):
        _dataloader(video_root, after='Decode')
