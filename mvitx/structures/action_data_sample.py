"""The data sample that carries labels, priors and predictions of one clip
or image through the pipeline, the model and the metrics."""
import torch
from mmengine.structures import BaseDataElement, InstanceData


def _data_field(name: str, dtype: type, doc: str) -> property:
    """A typed data field of :class:`ActionDataSample` (mmengine stores data
    fields under a private name and checks their type on assignment)."""
    private = f'_{name}'

    def fget(self):
        return getattr(self, private)

    def fset(self, value):
        self.set_field(value, private, dtype=dtype)

    def fdel(self):
        delattr(self, private)

    return property(fget, fset, fdel, doc)


class ActionDataSample(BaseDataElement):
    """Labels, predictions and structured priors of one sample.

    Meta fields (set by the dataset and transforms) stay in the metainfo and
    read as attributes: ``source`` (the dataset a sample came from, e.g.
    ``'in1k'``, ``'k400'``, which picks its head in co-training),
    ``modality``, ``img_shape``, ``frame_inds``.

    Examples:
        >>> sample = ActionDataSample(metainfo=dict(source='k400'))
        >>> sample.gt_label = torch.tensor([3])
        >>> sample.source
        'k400'
    """

    gt_label = _data_field(
        'gt_label', torch.Tensor,
        'LongTensor ``(1,)``, or ``(K,)`` class ids for multi-label.')
    pred_score = _data_field('pred_score', torch.Tensor,
                             'FloatTensor ``(num_classes,)`` of scores.')
    gt_instances = _data_field(
        'gt_instances', InstanceData,
        'Ground-truth actors: ``bboxes`` ``(n, 4)`` xyxy in input pixels, '
        '``labels`` ``(n, num_classes)`` multi-hot.')
    proposals = _data_field(
        'proposals', InstanceData, 'Person proposals: ``bboxes`` ``(n, 4)``, '
        '``scores`` ``(n,)``.')
    pred_instances = _data_field(
        'pred_instances', InstanceData,
        'Detections: ``bboxes`` ``(n, 4)``, ``scores`` '
        '``(n, num_classes)``.')
    priors = _data_field(
        'priors', BaseDataElement,
        'Structured priors of the sampled frames (``bboxes`` ``(T, M, 4)``, '
        '``types``, ``scores``, ``valid``, ``keypoints`` ``(T, P, K, 3)``); '
        'see ``docs/priors.md``.')
