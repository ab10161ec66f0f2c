"""Several datasets behind one index space, for image + video co-training."""
import bisect
import copy
from typing import Dict, List, Optional, Union

from mmengine.dataset import Compose
from torch.utils.data import Dataset

from mvitx.registry import DATASETS


class RepeatAugPipeline:
    """Runs the loading part of a pipeline once and the rest ``times``
    times on copies of its output: one decode, ``times`` augmented views.

    Args:
        pipeline (Compose): The dataset's pipeline.
        times (int): Views per sample.
        after (str): Class name of the last loading transform (e.g.
            ``'DecordDecode'``); the transforms after it run per view.

    Returns from a call the list of ``times`` results, or None when a
    transform drops the sample (mmengine then draws another).
    """

    def __init__(self, pipeline: Compose, times: int, after: str):
        names = [type(t).__name__ for t in pipeline.transforms]
        if after not in names:
            raise ValueError(f'repeat_aug: no {after!r} in the pipeline '
                             f'{names}')
        cut = names.index(after) + 1
        self.load = Compose(pipeline.transforms[:cut])
        self.augment = Compose(pipeline.transforms[cut:])
        self.times = times

    def __call__(self, results: dict) -> Optional[List[dict]]:
        results = self.load(results)
        if results is None:
            return None
        views = [
            self.augment(copy.deepcopy(results)) for _ in range(self.times)
        ]
        return None if any(v is None for v in views) else views


@DATASETS.register_module()
class CoTrainDataset(Dataset):
    """Datasets of different sources (e.g. ImageNet images and Kinetics
    clips) concatenated in a fixed order, each keeping its own pipeline.

    Global index ``i`` of source ``s`` is ``offsets[s] + local_index``.
    :class:`~mvitx.datasets.samplers.CoTrainBatchSampler` uses
    :meth:`source_range` to draw each batch from one source (or one batch
    per source), so the model sees per-source batches. Every sample keeps
    the ``source`` its dataset gives it (the recognizer picks the head by
    it); the names here only order the sources and label the metrics.

    Args:
        datasets (dict[str, dict | Dataset]): Source name to dataset (or its
            config, built with ``DATASETS``), e.g.
            ``dict(in1k=dict(type='ImageDataset', ...), k400=...)``. The
            order of the keys is the order of the index space.
        repeat_aug (dict[str, dict], optional): Repeated augmentation per
            source: ``dict(k400=dict(times=2, after='PyAVDecode'))``
            decodes a video once and yields ``times`` samples, each a
            separate run of the transforms after ``after`` (crops, flips,
            RandAugment...). An index of such a source gives a list of
            ``times`` samples; :meth:`__getitems__` flattens a batch, and
            ``CoTrainBatchSampler`` draws ``batch_size / times`` indices per
            batch so an epoch still visits every video once. For training
            sets. Defaults to None.

    Examples:
        >>> ds = CoTrainDataset(dict(a=list_ds_of_3, b=list_ds_of_2))
        >>> ds.source_range('b')
        range(3, 5)
    """

    def __init__(self,
                 datasets: Dict[str, Union[dict, Dataset]],
                 repeat_aug: Optional[Dict[str, dict]] = None):
        if not datasets:
            raise ValueError('CoTrainDataset needs at least one dataset')
        self.sources: List[str] = list(datasets)
        self.datasets: Dict[str, Dataset] = {
            name: DATASETS.build(ds) if isinstance(ds, dict) else ds
            for name, ds in datasets.items()
        }
        repeat_aug = repeat_aug or {}
        unknown = set(repeat_aug) - set(self.sources)
        if unknown:
            raise KeyError(f'repeat_aug for unknown sources {sorted(unknown)}')
        self._repeats = {name: 1 for name in self.sources}
        for name, cfg in repeat_aug.items():
            dataset = self.datasets[name]
            dataset.pipeline = RepeatAugPipeline(dataset.pipeline, **cfg)
            self._repeats[name] = dataset.pipeline.times
        self.offsets: List[int] = []
        total = 0
        for name in self.sources:
            self.offsets.append(total)
            total += len(self.datasets[name])
        self._length = total

    @property
    def metainfo(self) -> dict:
        """dict: ``sources`` and each source's own ``metainfo``."""
        meta = dict(sources=list(self.sources))
        for name, ds in self.datasets.items():
            if hasattr(ds, 'metainfo'):
                meta[name] = ds.metainfo
        return meta

    def source_range(self, source: str) -> range:
        """The global indices of one source.

        Args:
            source (str): A name from :attr:`sources`.

        Returns:
            range: ``offsets[source] ... offsets[source] + len(dataset)``.
        """
        i = self.sources.index(source)
        return range(self.offsets[i],
                     self.offsets[i] + len(self.datasets[source]))

    def repeats(self, source: str) -> int:
        """Samples one index of ``source`` yields (``repeat_aug`` times)."""
        return self._repeats[source]

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, idx: int):
        if not 0 <= idx < self._length:
            raise IndexError(f'index {idx} out of range for {self._length}')
        i = bisect.bisect_right(self.offsets, idx) - 1
        source = self.sources[i]
        return self.datasets[source][idx - self.offsets[i]]

    def __getitems__(self, indices: List[int]) -> list:
        """The samples of a batch of indices, the views of a repeated
        sample in a row (the DataLoader calls this, then collates)."""
        batch = []
        for idx in indices:
            sample = self[idx]
            batch += sample if isinstance(sample, list) else [sample]
        return batch
