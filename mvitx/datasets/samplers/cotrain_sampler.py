"""Batches for image + video co-training whose content is a pure function of
(seed, step, rank), so resuming at step ``t`` costs nothing."""
import math
from typing import Dict, Iterator, List, Optional

import numpy as np
from mmengine.dist import get_dist_info
from torch.utils.data import Sampler

from mvitx.registry import DATA_SAMPLERS

STRATEGIES = ('alternating', 'joint')
# Steps whose sources are drawn from one random block (see `_block`).
_BLOCK = 1024
# Distinguishes the source-sequence stream from the per-source streams.
_SOURCE_STREAM = 2**31 - 1


@DATA_SAMPLERS.register_module()
class CoTrainBatchSampler(Sampler):
    """Per-source batches over a :class:`~mvitx.datasets.CoTrainDataset`.

    Strategies:

    - ``'alternating'``: each step draws one source with probability
      proportional to ``ratios`` and yields a batch of that source's
      ``batch_sizes[source]`` indices. The source of step ``t`` depends on
      the seed and ``t`` only, so every rank takes the same source and DDP
      stays in sync.
    - ``'joint'``: each step yields one batch of every source, concatenated
      (the model sums the per-source losses before one backward);
      ``ratios`` is not used.

    Every source reads its samples from its own endless stream: epoch ``e``
    of source ``s`` is a permutation seeded by ``(seed, s, e)``; the ``k``-th
    batch of ``s`` takes stream positions ``k * B * W + rank * B + j``
    (``B`` its batch size, ``W`` the world size, ``j < B``), so ranks never
    overlap within a step and no sample is dropped or padded. Because a
    batch is a function of the step, :meth:`set_step` resumes mid-epoch
    without loading the skipped data (``CoTrainLoop`` calls it).

    Scale mechanics:

    - ``accumulative_counts[s] = k``: a step of ``s`` yields ``k`` batches
      of ``batch_sizes[s]`` (exactly the indices of one batch ``k`` times
      as big); ``CoTrainLoop`` reads :meth:`micro_batches` and runs them as
      ``k`` forward/backward passes and one optimiser step. Only with
      ``'alternating'``.
    - Repeated augmentation (``CoTrainDataset``'s ``repeat_aug``): a video
      index yields ``K`` samples (one decode, ``K`` augmented views), so a
      batch of ``B`` samples takes ``B / K`` indices of the stream and an
      epoch of the stream still visits every video once.

    Iteration is endless: use an iteration-based loop. ``len()`` is a
    nominal epoch, the steps that draw ``len(dataset)`` samples in all.

    Args:
        sampler (Sampler): The dataloader's ``sampler`` (e.g.
            ``DefaultSampler``); only its ``dataset`` (a ``CoTrainDataset``),
            ``seed`` (the same on all ranks), ``shuffle``, ``rank`` and
            ``world_size`` are used.
        batch_size (int): Per-GPU batch size of sources missing from
            ``batch_sizes`` (the dataloader's ``batch_size``).
        batch_sizes (dict[str, int], optional): Per-GPU batch size per
            source, e.g. ``dict(in1k=128, k400=16)``. Defaults to None.
        ratios (dict[str, float], optional): Relative frequency of each
            source's steps in ``'alternating'``; sources missing get 1.
            Defaults to None (all 1).
        strategy (str): ``'alternating'`` or ``'joint'``. Defaults to
            ``'alternating'``.
        accumulative_counts (dict[str, int], optional): Micro-batches of
            ``batch_sizes[source]`` per optimiser step of a source, e.g.
            ``dict(k400=4)``; missing sources get 1. Defaults to None.

    Examples:
        >>> train_dataloader = dict(
        ...     batch_size=16,
        ...     sampler=dict(type='DefaultSampler', shuffle=True),
        ...     batch_sampler=dict(
        ...         type='CoTrainBatchSampler',
        ...         batch_sizes=dict(in1k=128, k400=16),
        ...         ratios=dict(in1k=1, k400=1),
        ...         accumulative_counts=dict(k400=2)),
        ...     dataset=dict(type='CoTrainDataset', datasets=dict(...)))
    """

    def __init__(self,
                 sampler: Sampler,
                 batch_size: int,
                 batch_sizes: Optional[Dict[str, int]] = None,
                 ratios: Optional[Dict[str, float]] = None,
                 strategy: str = 'alternating',
                 accumulative_counts: Optional[Dict[str, int]] = None):
        if strategy not in STRATEGIES:
            raise ValueError(
                f'strategy must be one of {STRATEGIES}, got {strategy!r}')
        dataset = sampler.dataset
        if not hasattr(dataset, 'source_range'):
            raise TypeError('CoTrainBatchSampler needs a CoTrainDataset, got '
                            f'{type(dataset).__name__}')
        batch_sizes = batch_sizes or {}
        ratios = ratios or {}
        accumulative_counts = accumulative_counts or {}
        if strategy == 'joint' and accumulative_counts:
            raise ValueError('accumulative_counts needs the alternating '
                             'strategy (a joint step holds every source)')
        unknown = (set(batch_sizes) | set(ratios)
                   | set(accumulative_counts)) - set(dataset.sources)
        if unknown:
            raise KeyError(f'unknown sources {sorted(unknown)}; the dataset '
                           f'has {dataset.sources}')
        self.sampler = sampler
        self.strategy = strategy
        self.sources: List[str] = list(dataset.sources)
        self.seed = int(sampler.seed)
        self.shuffle = bool(getattr(sampler, 'shuffle', True))
        rank, world_size = get_dist_info()
        self.rank = getattr(sampler, 'rank', rank)
        self.world_size = getattr(sampler, 'world_size', world_size)
        self.ranges = [dataset.source_range(s) for s in self.sources]
        if any(len(r) == 0 for r in self.ranges):
            raise ValueError('every source needs at least one sample')
        self.accumulative_counts = [
            int(accumulative_counts.get(s, 1)) for s in self.sources
        ]
        if min(self.accumulative_counts) < 1:
            raise ValueError(
                f'accumulative_counts must be >= 1: {accumulative_counts}')
        # Indices per step: a repeated video index yields `repeats` samples.
        self.batch_sizes = []
        for s, counts in zip(self.sources, self.accumulative_counts):
            samples = int(batch_sizes.get(s, batch_size))
            repeats = dataset.repeats(s)
            if samples % repeats:
                raise ValueError(
                    f'the batch size of {s!r} ({samples}) must be a '
                    f'multiple of its repeated augmentation ({repeats})')
            self.batch_sizes.append(samples // repeats * counts)
        weights = np.array([float(ratios.get(s, 1.)) for s in self.sources])
        if (weights < 0).any() or weights.sum() <= 0:
            raise ValueError(f'ratios must be >= 0 and not all 0: {ratios}')
        self.probs = weights / weights.sum()
        self._cum_probs = np.cumsum(self.probs)
        self._start_step = 0
        self._perm_cache: Dict[int, tuple] = {}
        self._block_cache: tuple = (-1, None)

    def set_step(self, step: int) -> None:
        """Makes the next ``iter()`` start at training step ``step``.

        Args:
            step (int): Number of steps already trained (``runner.iter``).
        """
        self._start_step = int(step)

    def micro_batches(self, step: int) -> int:
        """Micro-batches in the batch of training step ``step`` (the
        ``accumulative_counts`` of its source; 1 for ``'joint'``)."""
        if self.strategy == 'joint':
            return 1
        return self.accumulative_counts[self.source_of_step(step)]

    def _block(self, block: int) -> np.ndarray:
        """Sources of steps ``block * _BLOCK ...`` (``(_BLOCK,)`` ints)."""
        if self._block_cache[0] != block:
            rng = np.random.default_rng([self.seed, _SOURCE_STREAM, block])
            draws = rng.random(_BLOCK)
            sources = np.minimum(
                np.searchsorted(self._cum_probs, draws, side='right'),
                len(self.sources) - 1)
            self._block_cache = (block, sources)
        return self._block_cache[1]

    def source_of_step(self, step: int) -> int:
        """The index (into :attr:`sources`) of the source of ``step`` in
        ``'alternating'`` mode; the same on every rank."""
        return int(self._block(step // _BLOCK)[step % _BLOCK])

    def _uses_before(self, step: int) -> List[int]:
        """How many batches each source yielded in steps ``0 .. step-1``."""
        if self.strategy == 'joint':
            return [step] * len(self.sources)
        counts = np.zeros(len(self.sources), dtype=np.int64)
        full, rest = divmod(step, _BLOCK)
        for block in range(full):
            counts += np.bincount(
                self._block(block), minlength=len(self.sources))
        if rest:
            counts += np.bincount(
                self._block(full)[:rest], minlength=len(self.sources))
        return counts.tolist()

    def _position(self, src: int, pos: int) -> int:
        """Global dataset index at position ``pos`` of a source's stream."""
        size = len(self.ranges[src])
        epoch, offset = divmod(pos, size)
        cached = self._perm_cache.get(src)
        if cached is None or cached[0] != epoch:
            if self.shuffle:
                rng = np.random.default_rng([self.seed, src, epoch])
                perm = rng.permutation(size)
            else:
                perm = np.arange(size)
            cached = (epoch, perm)
            self._perm_cache[src] = cached
        return self.ranges[src].start + int(cached[1][offset])

    def _batch(self, src: int, use: int) -> List[int]:
        """This rank's indices of the ``use``-th batch of source ``src``."""
        size = self.batch_sizes[src]
        first = use * size * self.world_size + self.rank * size
        return [self._position(src, first + j) for j in range(size)]

    def __iter__(self) -> Iterator[List[int]]:
        step = self._start_step
        uses = self._uses_before(step)
        while True:
            if self.strategy == 'joint':
                batch = []
                for src in range(len(self.sources)):
                    batch += self._batch(src, uses[src])
                    uses[src] += 1
            else:
                src = self.source_of_step(step)
                batch = self._batch(src, uses[src])
                uses[src] += 1
            yield batch
            step += 1

    def __len__(self) -> int:
        """A nominal epoch: steps that draw every index of the dataset once
        (every video once, whatever its repeats)."""
        sizes = np.array(self.batch_sizes, dtype=np.float64)
        if self.strategy == 'joint':
            per_step = sizes.sum()
        else:
            per_step = float((self.probs * sizes).sum())
        total = sum(len(r) for r in self.ranges)
        return max(1, math.ceil(total / (per_step * self.world_size)))
