"""Top-k accuracy of every source of a joint validation set."""
from collections import OrderedDict, defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric

from mvitx.registry import METRICS


@METRICS.register_module()
class AccMetric(BaseMetric):
    """Top-k accuracy per source and their mean over sources.

    Keys: ``<source>/top1``, ``<source>/top5`` (one per ``topk``) in percent
    for every ``source`` metainfo seen, and ``mean/top1``, ``mean/top5``,
    the unweighted means over sources (a model is kept as best by
    ``mean/top1`` whatever the sizes of the validation sets). Samples
    without a ``source`` count as ``'default'``. Multi-view predictions are
    already averaged per sample by the head.

    Args:
        topk (Sequence[int]): The ``k`` of the reported accuracies.
            Defaults to ``(1, 5)``.
        collect_device (str): ``'cpu'`` or ``'gpu'``, where results are
            gathered across ranks. Defaults to ``'cpu'``.
        prefix (str, optional): Prepended to every key as ``prefix/``.
            Defaults to None: :attr:`default_prefix`, empty, as the keys
            already name their source.
    """

    # Empty, not None: mmengine warns about a None prefix and prepends only
    # a non-empty one, so the keys stay `<source>/top1`.
    default_prefix: Optional[str] = ''

    def __init__(self,
                 topk: Sequence[int] = (1, 5),
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None):
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not topk or min(topk) < 1:
            raise ValueError(f'topk must be positive ints, got {topk}')
        self.topk = tuple(int(k) for k in topk)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        """Keeps ``(source, label, top-k class ids)`` of each prediction.

        Args:
            data_batch: The batch (unused).
            data_samples (Sequence[dict]): Predictions (``pred_score``
                ``(K,)``, ``gt_label``, ``source``) as dicts.
        """
        kmax = max(self.topk)
        for sample in data_samples:
            score = sample['pred_score']
            top = score.topk(min(kmax, score.numel())).indices
            self.results.append(
                dict(
                    source=sample.get('source') or 'default',
                    label=int(sample['gt_label'].view(-1)[0]),
                    top=top.cpu().numpy()))

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        """Accuracies in percent.

        Args:
            results (list[dict]): What :meth:`process` kept, all ranks.

        Returns:
            dict[str, float]: ``<source>/top<k>`` and ``mean/top<k>``.
        """
        by_source = defaultdict(list)
        for res in results:
            by_source[res['source']].append(res)
        # The mean comes first: `save_best='auto'` keeps the first key.
        means, per_source = OrderedDict(), OrderedDict()
        for k in self.topk:
            for source in sorted(by_source):
                hits = [r['label'] in r['top'][:k] for r in by_source[source]]
                per_source[f'{source}/top{k}'] = 100. * float(np.mean(hits))
            means[f'mean/top{k}'] = float(
                np.mean([per_source[f'{s}/top{k}'] for s in by_source]))
        metrics = OrderedDict(means)
        metrics.update(per_source)
        return metrics
