import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

from mvitx.apis.temporal_sensitivity import permuted_test_config
from mvitx.datasets.demo import make_demo_data
from mvitx.datasets.transforms import PermuteFrames
from tests.helpers import ROOT

CONFIG = """
_base_ = ['{root}/configs/_base_/default_runtime.py']
custom_imports = dict(imports=['tests.tools.toy_components'])
test_dataloader = dict(
    batch_size=4,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='VideoDataset',
        source='demo_vid',
        ann_file='val_list.txt',
        data_root={data!r},
        data_prefix=dict(video='videos_val'),
        classes='classes.txt',
        test_mode=True,
        pipeline=[
            dict(type='DecordInit'),
            dict(type='SampleFrames', clip_len=8, frame_interval=2,
                 num_clips=2, test_mode=True),
            dict(type='DecordDecode'),
            dict(type='PackActionInputs'),
        ]))
test_evaluator = dict(type='AccMetric', topk=(1, ))
test_cfg = dict(type='TestLoop')
model = dict(type='ToyMotionRecognizer', num_classes=10, falls=5, rises=6)
"""


def clip(num_frames):
    """``(num_frames, 1, 1, 3)`` frames whose pixels are their index."""
    return np.arange(
        num_frames, dtype=np.uint8).reshape(-1, 1, 1, 1).repeat(3, 3)


@pytest.mark.parametrize('mode, expected', [
    ('identity', [0, 1, 2, 3, 4, 5, 6, 7]),
    ('reverse', [3, 2, 1, 0, 7, 6, 5, 4]),
    ('repeat', [2, 2, 2, 2, 6, 6, 6, 6]),
])
def test_permute_frames_reorders_each_clip(mode, expected):
    results = dict(imgs=clip(8), frame_inds=np.arange(10, 18), clip_len=4)
    out = PermuteFrames(mode)(results)
    assert out['imgs'][:, 0, 0, 0].tolist() == expected
    assert out['frame_inds'].tolist() == [10 + i for i in expected]


def test_shuffle_is_a_per_clip_permutation_fixed_by_seed_and_file():

    def shuffled(seed, filename):
        results = dict(
            imgs=clip(16),
            frame_inds=np.arange(16),
            clip_len=8,
            filename=filename)
        return PermuteFrames('shuffle', seed)(results)['imgs'][:, 0, 0, 0]

    order = shuffled(0, 'a.mp4')
    assert sorted(order[:8]) == list(range(8))
    assert sorted(order[8:]) == list(range(8, 16))
    assert not np.array_equal(order, np.arange(16))
    assert np.array_equal(order, shuffled(0, 'a.mp4'))
    assert not np.array_equal(order, shuffled(1, 'a.mp4'))
    assert not np.array_equal(order, shuffled(0, 'b.mp4'))


def test_images_are_left_alone_and_bad_input_is_refused():
    image = dict(imgs=clip(1), frame_inds=np.zeros(1, np.int64))
    assert PermuteFrames('reverse')(image)['imgs'].shape == (1, 1, 1, 3)
    with pytest.raises(ValueError, match='not whole clips'):
        PermuteFrames('reverse')(
            dict(imgs=clip(6), frame_inds=np.arange(6), clip_len=4))
    with pytest.raises(ValueError, match="mode must be one of"):
        PermuteFrames('backwards')


def test_probe_goes_after_decoding_of_every_video_pipeline():
    from mmengine.config import Config
    cfg = Config(
        dict(
            test_dataloader=dict(
                dataset=dict(
                    type='CoTrainDataset',
                    datasets=dict(
                        img=dict(pipeline=[dict(type='LoadImage')]),
                        vid=dict(pipeline=[
                            dict(type='DecordInit'),
                            dict(type='DecordDecode'),
                            dict(type='Resize')
                        ]))))))
    out = permuted_test_config(cfg, 'reverse', seed=3)
    datasets = out.test_dataloader.dataset.datasets
    assert [s['type'] for s in datasets.vid.pipeline
            ] == ['DecordInit', 'DecordDecode', 'PermuteFrames', 'Resize']
    assert datasets.vid.pipeline[2] == dict(
        type='PermuteFrames', mode='reverse', seed=3)
    assert len(datasets.img.pipeline) == 1
    assert len(cfg.test_dataloader.dataset.datasets.vid.pipeline) == 3
    with pytest.raises(ValueError, match='no video pipeline'):
        permuted_test_config(
            Config(dict(test_dataloader=dict(dataset=datasets.img))),
            'reverse')


@pytest.fixture(scope='module')
def demo_kinetics(tmp_path_factory):
    root = tmp_path_factory.mktemp('demo')
    make_demo_data(str(root), seed=0, scale='tiny')
    return str(root / 'kinetics')


def test_tool_shows_the_drop_of_a_motion_model_under_reversal(
        demo_kinetics, tmp_path):
    """A model that tells falling from rising objects by their motion loses
    those classes when time runs backwards, and nothing when the frames are
    left in order."""
    config = tmp_path / 'toy_motion.py'
    config.write_text(CONFIG.format(root=ROOT, data=demo_kinetics))
    checkpoint = tmp_path / 'toy.pth'
    torch.save(dict(state_dict=dict(gain=torch.ones(()))), checkpoint)
    out = tmp_path / 'results.json'
    proc = subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools/analysis/temporal_sensitivity.py'),
        str(config),
        str(checkpoint), '--modes', 'identity', 'reverse', 'repeat',
        '--work-dir',
        str(tmp_path / 'work'), '--out',
        str(out)
    ],
                          cwd=ROOT,
                          env=dict(
                              os.environ, OMP_NUM_THREADS='1',
                              PYTHONPATH=ROOT),
                          capture_output=True,
                          text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    with open(osp.join(demo_kinetics, 'val_list.txt')) as f:
        labels = [int(line.split()[1]) for line in f]
    moving = 100 * np.mean([label in (5, 6) for label in labels])
    top1 = {mode: m['demo_vid/top1'] for mode, m in results.items()}
    # Every falling and rising object is recognised in order, none reversed.
    assert top1['original'] == pytest.approx(moving)
    assert top1['identity'] == top1['original']
    assert top1['reverse'] == 0
    assert '| demo_vid/top1 | ' in proc.stdout
    assert f'{-moving:+.2f}' in proc.stdout
