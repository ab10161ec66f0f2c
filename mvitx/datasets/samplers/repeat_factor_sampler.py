"""Class-balanced keyframe sampling for long-tailed multi-label data (AVA):
repeat-factor sampling as in LVIS (Gupta et al., 2019)."""
import math
from typing import Iterator, List, Optional, Sequence, Sized

import numpy as np
import torch
from mmengine.dist import get_dist_info, sync_random_seed
from torch.utils.data import Sampler

from mvitx.registry import DATA_SAMPLERS


def keyframe_labels(dataset: Sized,
                    label_key: str = 'gt_labels') -> List[np.ndarray]:
    """The classes present in each sample of a dataset.

    Args:
        dataset (Sized): A dataset with ``get_data_info(i)`` (e.g.
            :class:`~mvitx.datasets.AVADataset`, or an mmengine
            ``ConcatDataset`` of them).
        label_key (str): The sample's ``(n, C)`` multi-hot labels of its
            ``n`` actors. Defaults to ``'gt_labels'``.

    Returns:
        list[np.ndarray]: Per sample, the sorted column indices of its
        classes (empty for a sample without labels).

    Raises:
        KeyError: A sample without ``label_key``, naming its index.
    """
    labels = []
    for index in range(len(dataset)):
        info = dataset.get_data_info(index)
        if label_key not in info:
            raise KeyError(f'sample {index} of {type(dataset).__name__} has '
                           f'no {label_key!r} (it has {sorted(info)})')
        multi_hot = np.asarray(info[label_key]).reshape(
            -1,
            np.shape(info[label_key])[-1])
        labels.append(np.flatnonzero(multi_hot.max(0, initial=0) > 0))
    return labels


def repeat_factors(labels: Sequence[np.ndarray],
                   threshold: float) -> np.ndarray:
    """LVIS repeat factors of samples.

    ``f_c`` is the fraction of samples that contain class ``c``; class
    ``c`` has ``r_c = max(1, sqrt(threshold / f_c))`` and a sample the
    largest ``r_c`` of its classes (1 without a class).

    Args:
        labels (Sequence[np.ndarray]): The classes of each sample
            (:func:`keyframe_labels`).
        threshold (float): Frequency ``t`` below which a class is repeated.

    Returns:
        np.ndarray: ``(len(labels),)`` float64 factors, at least 1.

    Raises:
        ValueError: ``threshold`` not positive or no sample.
    """
    if threshold <= 0:
        raise ValueError(f'threshold must be positive, got {threshold}')
    if not len(labels):
        raise ValueError('repeat factors of an empty dataset')
    counts = {}
    for classes in labels:
        for c in classes.tolist():
            counts[c] = counts.get(c, 0) + 1
    class_factor = {
        c: max(1., math.sqrt(threshold / (n / len(labels))))
        for c, n in counts.items()
    }
    return np.array([
        max([class_factor[c] for c in classes.tolist()], default=1.)
        for classes in labels
    ])


@DATA_SAMPLERS.register_module()
class RepeatFactorSampler(Sampler):
    """Repeats the samples of rare classes within an epoch (LVIS
    repeat-factor sampling), for AVA keyframes by their rarest action.

    Each sample ``i`` has a factor ``r_i`` (:func:`repeat_factors` of the
    dataset's labels, :func:`keyframe_labels`). Epoch ``e`` takes sample
    ``i`` ``floor(r_i)`` times plus once more with probability ``r_i -
    floor(r_i)`` (stochastic rounding), shuffled; the draws depend on
    ``seed + e`` only, so all ranks agree. Like mmengine's
    ``DefaultSampler``, the epoch's list is padded with its own first
    entries to a multiple of the world size (``round_up``) and rank ``k``
    takes entries ``k, k + W, ...``: ranks never share an entry of the
    list. The epoch length changes with the draws (its mean is
    ``sum(r_i)``); iteration-based loops start the next epoch when one
    ends.

    Args:
        dataset (Sized): Dataset with ``get_data_info(i)['gt_labels']``
            ``(n, C)`` multi-hot (:class:`~mvitx.datasets.AVADataset`).
        threshold (float): Class frequency ``t`` (fraction of samples
            containing the class) under which a class's samples are
            repeated ``sqrt(t / f_c)`` times. LVIS uses 0.001.
        shuffle (bool): Shuffle each epoch's list. Defaults to True.
        seed (int, optional): Seed, identical on all ranks. Defaults to
            None (a random seed shared by the ranks).
        round_up (bool): Pad each epoch to a multiple of the world size.
            Defaults to True.

    Examples:
        >>> train_dataloader = dict(
        ...     sampler=dict(type='RepeatFactorSampler', threshold=0.01),
        ...     dataset=dict(type='AVADataset', ...))
    """

    def __init__(self,
                 dataset: Sized,
                 threshold: float,
                 shuffle: bool = True,
                 seed: Optional[int] = None,
                 round_up: bool = True):
        self.rank, self.world_size = get_dist_info()
        self.dataset = dataset
        self.threshold = threshold
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else seed
        self.round_up = round_up
        self.epoch = 0
        self.factors = repeat_factors(keyframe_labels(dataset), threshold)

    def epoch_indices(self, epoch: int) -> List[int]:
        """All ranks' list of epoch ``epoch`` (before padding)."""
        generator = torch.Generator().manual_seed(self.seed + epoch)
        factors = torch.from_numpy(self.factors)
        whole = factors.floor()
        extra = torch.rand(
            len(factors), generator=generator) < (
                factors - whole)
        repeats = whole.long() + extra.long()
        indices = torch.repeat_interleave(torch.arange(len(factors)), repeats)
        if self.shuffle:
            indices = indices[torch.randperm(
                len(indices), generator=generator)]
        return indices.tolist()

    def _rank_indices(self) -> List[int]:
        indices = self.epoch_indices(self.epoch)
        if self.round_up:
            total = math.ceil(len(indices) / self.world_size) * (
                self.world_size)
            indices = (indices * math.ceil(total / len(indices)))[:total]
        return indices[self.rank::self.world_size]

    def __iter__(self) -> Iterator[int]:
        return iter(self._rank_indices())

    def __len__(self) -> int:
        """Samples of this rank in the current epoch."""
        return len(self._rank_indices())

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch (the loops call it), which sets the draws.

        Args:
            epoch (int): Epoch number.
        """
        self.epoch = epoch
