import itertools
from collections import Counter

import pytest
from mmengine.dataset import DefaultSampler

from mvitx.datasets import CoTrainDataset
from mvitx.datasets.samplers import CoTrainBatchSampler

SIZES = dict(img=50, vid=12)


def _dataset():
    return CoTrainDataset({
        name: [f'{name}{i}' for i in range(size)]
        for name, size in SIZES.items()
    })


def _sampler(rank=0, world_size=1, seed=3, shuffle=True, **kwargs):
    sampler = DefaultSampler(_dataset(), shuffle=shuffle, seed=seed)
    sampler.rank, sampler.world_size = rank, world_size
    kwargs.setdefault('batch_sizes', dict(img=4, vid=2))
    return CoTrainBatchSampler(sampler, batch_size=1, **kwargs)


def _take(batch_sampler, n):
    return list(itertools.islice(iter(batch_sampler), n))


def _source(dataset, idx):
    return dataset[idx][:3]


def test_dataset_concatenates_sources_in_order():
    ds = _dataset()
    assert len(ds) == 62
    assert ds.source_range('vid') == range(50, 62)
    assert ds[0] == 'img0' and ds[49] == 'img49' and ds[50] == 'vid0'
    assert ds.metainfo['sources'] == ['img', 'vid']
    with pytest.raises(IndexError):
        ds[62]


def test_alternating_batches_are_single_source_with_own_size():
    ds = _dataset()
    batches = _take(_sampler(), 200)
    for batch in batches:
        sources = {_source(ds, i) for i in batch}
        assert len(sources) == 1
        assert len(batch) == (4 if sources == {'img'} else 2)


def test_ranks_agree_on_source_and_split_the_samples():
    ds = _dataset()
    rank0 = _take(_sampler(rank=0, world_size=2), 100)
    rank1 = _take(_sampler(rank=1, world_size=2), 100)
    stream = []
    for b0, b1 in zip(rank0, rank1):
        assert _source(ds, b0[0]) == _source(ds, b1[0])
        if _source(ds, b0[0]) == 'vid':
            stream += b0 + b1
    # Together the ranks read each epoch of a source exactly once.
    assert len(stream) >= 24
    for epoch in range(len(stream) // 12):
        assert sorted(stream[epoch * 12:(epoch + 1) * 12]) == list(
            range(50, 62))


def test_ratios_set_step_frequencies():
    bs = _sampler(ratios=dict(img=3, vid=1))
    counts = Counter(bs.source_of_step(t) for t in range(4000))
    assert counts[0] / 4000 == pytest.approx(0.75, abs=0.03)
    bs = _sampler(ratios=dict(img=0, vid=1))
    assert {bs.source_of_step(t) for t in range(2000)} == {1}


def test_each_epoch_of_a_source_visits_every_sample_once():
    ds = _dataset()
    stream = [
        i for batch in _take(_sampler(), 400) for i in batch
        if _source(ds, i) == 'vid'
    ]
    assert len(stream) >= 36
    for epoch in range(3):
        assert sorted(stream[epoch * 12:(epoch + 1) * 12]) == list(
            range(50, 62))
    # Shuffled: epochs differ in order.
    assert stream[:12] != stream[12:24]


def test_no_shuffle_reads_sources_in_order():
    batches = _take(_sampler(shuffle=False, strategy='joint'), 2)
    assert batches[0] == [0, 1, 2, 3, 50, 51]
    assert batches[1] == [4, 5, 6, 7, 52, 53]


def test_joint_batches_hold_every_source():
    ds = _dataset()
    for batch in _take(_sampler(strategy='joint'), 30):
        assert Counter(_source(ds, i) for i in batch) == dict(img=4, vid=2)


@pytest.mark.parametrize('strategy', ['alternating', 'joint'])
@pytest.mark.parametrize('step', [1, 7, 1500])
def test_set_step_resumes_the_same_sequence(strategy, step):
    full = _take(_sampler(strategy=strategy, world_size=2, rank=1), step + 20)
    resumed = _sampler(strategy=strategy, world_size=2, rank=1)
    resumed.set_step(step)
    assert _take(resumed, 20) == full[step:]


def test_seed_determines_the_batches():
    assert _take(_sampler(seed=5), 50) == _take(_sampler(seed=5), 50)
    assert _take(_sampler(seed=5), 50) != _take(_sampler(seed=6), 50)


def test_len_is_a_nominal_epoch():
    # 62 samples, 0.5 * 4 + 0.5 * 2 = 3 per step and rank, 2 ranks.
    assert len(_sampler(world_size=2)) == 11
    assert len(_sampler(strategy='joint')) == 11


def test_bad_arguments_fail_loudly():
    with pytest.raises(KeyError, match='unknown sources'):
        _sampler(batch_sizes=dict(audio=3))
    with pytest.raises(ValueError, match='strategy'):
        _sampler(strategy='random')
    with pytest.raises(TypeError, match='CoTrainDataset'):
        CoTrainBatchSampler(
            DefaultSampler(list(range(4)), seed=0), batch_size=2)
    with pytest.raises(KeyError, match='unknown sources'):
        _sampler(accumulative_counts=dict(audio=2))
    with pytest.raises(ValueError, match='alternating'):
        _sampler(strategy='joint', accumulative_counts=dict(vid=2))


@pytest.mark.parametrize('rank', [0, 1])
def test_accumulated_steps_take_the_indices_of_a_k_times_bigger_batch(rank):
    micro = _sampler(
        rank=rank,
        world_size=2,
        batch_sizes=dict(img=4, vid=2),
        accumulative_counts=dict(vid=3))
    big = _sampler(rank=rank, world_size=2, batch_sizes=dict(img=4, vid=6))
    assert _take(micro, 50) == _take(big, 50)
    ds = _dataset()
    for step, batch in enumerate(_take(micro, 50)):
        vid = _source(ds, batch[0]) == 'vid'
        assert micro.micro_batches(step) == (3 if vid else 1)
    assert _sampler(strategy='joint').micro_batches(0) == 1
