"""Several datasets behind one index space, for image + video co-training."""
import bisect
from typing import Dict, List, Union

from torch.utils.data import Dataset

from mvitx.registry import DATASETS


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

    Examples:
        >>> ds = CoTrainDataset(dict(a=list_ds_of_3, b=list_ds_of_2))
        >>> ds.source_range('b')
        range(3, 5)
    """

    def __init__(self, datasets: Dict[str, Union[dict, Dataset]]):
        if not datasets:
            raise ValueError('CoTrainDataset needs at least one dataset')
        self.sources: List[str] = list(datasets)
        self.datasets: Dict[str, Dataset] = {
            name: DATASETS.build(ds) if isinstance(ds, dict) else ds
            for name, ds in datasets.items()
        }
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

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, idx: int):
        if not 0 <= idx < self._length:
            raise IndexError(f'index {idx} out of range for {self._length}')
        i = bisect.bisect_right(self.offsets, idx) - 1
        source = self.sources[i]
        return self.datasets[source][idx - self.offsets[i]]
