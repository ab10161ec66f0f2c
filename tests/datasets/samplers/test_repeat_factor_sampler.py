"""RepeatFactorSampler: LVIS repeat-factor sampling of AVA keyframes."""
import math
from collections import Counter

import numpy as np
import pytest

from mvitx.datasets import AVADataset
from mvitx.datasets.samplers import RepeatFactorSampler
from mvitx.datasets.samplers.repeat_factor_sampler import (keyframe_labels,
                                                           repeat_factors)
from mvitx.registry import DATA_SAMPLERS

LABELS = ''.join(f'item {{\n  name: "a{i}"\n  id: {i}\n}}\n'
                 for i in (1, 2, 3))


@pytest.fixture
def ava_train(tmp_path):
    """Ten keyframes of one movie: action 1 on all, action 2 on seconds 2
    and 3, action 3 on second 1 (with 1), in real AVA files. Frames are
    not needed to list the samples."""
    rows = []
    for second in range(1, 11):
        actions = [1] + [2] * (second in (2, 3)) + [3] * (second == 1)
        # Two actors per keyframe; action 1 on both.
        rows += [f'vid,{second},0.1,0.1,0.4,0.9,{a},0' for a in actions]
        rows.append(f'vid,{second},0.5,0.1,0.9,0.9,1,1')
    (tmp_path / 'train.csv').write_text('\n'.join(rows) + '\n')
    (tmp_path / 'labels.pbtxt').write_text(LABELS)
    return AVADataset(
        ann_file='train.csv',
        label_file='labels.pbtxt',
        data_root=str(tmp_path),
        data_prefix=dict(img='frames'),
        pipeline=[],
        num_classes=3,
        fps=10,
        timestamp_start=0)


def make_sampler(dataset, rank=0, world_size=1, **kwargs):
    kwargs.setdefault('seed', 7)
    sampler = RepeatFactorSampler(dataset, threshold=0.4, **kwargs)
    sampler.rank, sampler.world_size = rank, world_size
    return sampler


def test_factors_from_the_rarest_label(ava_train):
    # Frequencies: action 1 on 10/10 keyframes, 2 on 2/10, 3 on 1/10:
    # r = 1, sqrt(0.4 / 0.2), sqrt(0.4 / 0.1) = 1, 1.414, 2.
    labels = keyframe_labels(ava_train)
    order = [ava_train.get_data_info(i)['timestamp'] for i in range(10)]
    assert order == list(range(1, 11))
    assert labels[0].tolist() == [0, 2] and labels[1].tolist() == [0, 1]
    factors = make_sampler(ava_train).factors
    expected = [2., math.sqrt(2), math.sqrt(2)] + [1.] * 7
    np.testing.assert_allclose(factors, expected)
    # A keyframe without labels keeps factor 1; a frequent class too.
    np.testing.assert_allclose(
        repeat_factors([np.array([], int), np.array([0])], 0.1), [1., 1.])


def test_repeat_counts_follow_the_factors(ava_train):
    sampler = make_sampler(ava_train)
    totals = Counter()
    epochs = 400
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        counts = Counter(sampler)
        assert len(sampler) == sum(counts.values())
        # Whole factors are exact; 1.414 is 1 or 2 in every epoch.
        assert counts[0] == 2
        assert all(counts[i] == 1 for i in range(3, 10))
        assert all(counts[i] in (1, 2) for i in (1, 2))
        totals.update(counts)
    for i in (1, 2):
        assert abs(totals[i] / epochs - math.sqrt(2)) < 0.1


def test_deterministic_per_seed_and_epoch(ava_train):
    a, b = make_sampler(ava_train), make_sampler(ava_train)
    a.set_epoch(3)
    b.set_epoch(3)
    assert list(a) == list(b)
    runs = set()
    for epoch in range(4):
        a.set_epoch(epoch)
        runs.add(tuple(a))
    assert len(runs) == 4
    assert list(make_sampler(ava_train,
                             seed=8)) != list(make_sampler(ava_train, seed=7))
    ordered = make_sampler(ava_train, shuffle=False)
    assert list(ordered) == sorted(ordered)


@pytest.mark.parametrize('world_size', [2, 3, 4])
def test_ranks_are_disjoint_and_cover_the_epoch(ava_train, world_size):
    epoch = 5
    full = make_sampler(ava_train).epoch_indices(epoch)
    parts = []
    for rank in range(world_size):
        sampler = make_sampler(ava_train, rank, world_size)
        sampler.set_epoch(epoch)
        parts.append(list(sampler))
    assert len({len(p) for p in parts}) == 1
    # Entry j of the padded list goes to rank j % world_size only.
    padded = [
        parts[j % world_size][j // world_size]
        for j in range(sum(map(len, parts)))
    ]
    pad = len(padded) - len(full)
    assert 0 <= pad < world_size
    assert padded == full + full[:pad]
    unpadded = [
        make_sampler(ava_train, rank, world_size, round_up=False)
        for rank in range(world_size)
    ]
    for sampler in unpadded:
        sampler.set_epoch(epoch)
    assert sorted(i for s in unpadded for i in s) == sorted(full)


def test_built_from_the_registry_and_errors(ava_train):
    sampler = DATA_SAMPLERS.build(
        dict(
            type='RepeatFactorSampler',
            dataset=ava_train,
            threshold=0.4,
            seed=0))
    assert isinstance(sampler, RepeatFactorSampler)
    with pytest.raises(ValueError, match='threshold must be positive'):
        RepeatFactorSampler(ava_train, threshold=0., seed=0)


class ImageList:
    """A dataset whose samples have no action labels."""

    def __len__(self):
        return 1

    def get_data_info(self, index):
        return dict(img_path='x.jpg')


def test_a_dataset_without_labels_is_named():
    with pytest.raises(
            KeyError, match="sample 0 of ImageList has no 'gt_labels'"):
        keyframe_labels(ImageList())
