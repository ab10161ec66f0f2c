"""Packing a pipeline result into model inputs and an
:class:`~mvitx.structures.ActionDataSample`."""
from typing import Sequence

import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import BaseDataElement, InstanceData

from mvitx.registry import TRANSFORMS
from mvitx.structures import ActionDataSample

#: Pipeline keys that become the sample's ``priors`` fields.
PRIOR_KEYS = dict(
    prior_bboxes='bboxes',
    prior_box_types='types',
    prior_box_scores='scores',
    prior_keypoints='keypoints',
    prior_keypoints3d='keypoints3d')


@TRANSFORMS.register_module()
class PackActionInputs(BaseTransform):
    """Packs ``imgs`` uint8 ``(V * T, H, W, 3)`` into ``inputs`` and the
    labels, boxes, priors and meta information into ``data_samples``.

    ``inputs`` is a uint8 tensor, channels first (a permuted view of the
    frames, not a copy): ``(C, H, W)`` for an image
    (``modality='image'``, one view), ``(C, T, H, W)`` for a video clip, and
    ``(V, C, T, H, W)`` (``(V, C, H, W)`` for images) when
    ``num_clips * num_crops = V > 1``. ``T`` is ``results['clip_len']``
    (1 for images).

    ``data_samples`` gets ``gt_label`` (LongTensor ``(1,)``, or the ids of a
    multi-label list), ``gt_instances`` (``bboxes`` from ``gt_bboxes``,
    ``labels`` from ``gt_labels``), ``proposals`` (``bboxes``, ``scores``
    from ``proposal_scores``), and ``priors`` (``bboxes`` ``(T, M, 4)``,
    ``types`` ``(T, M)``, ``scores`` ``(T, M)``, ``valid`` ``(T, M)`` =
    ``types >= 0``, ``keypoints`` ``(T, P, K, 3)`` and, when loaded,
    ``keypoints3d`` ``(T, P, K3, 4)``), and the ``meta_keys`` present in
    ``results`` as metainfo.

    Args:
        meta_keys (Sequence[str]): Result keys copied into the metainfo.
            Defaults to the dataset, shape and augmentation records.
    """

    def __init__(
        self,
        meta_keys: Sequence[str] = ('filename', 'img_path', 'source',
                                    'modality', 'img_shape', 'ori_shape',
                                    'frame_inds', 'clip_len', 'num_clips',
                                    'num_crops', 'crop_bbox', 'scale_factor',
                                    'flip', 'flip_direction', 'prior_file')):
        self.meta_keys = tuple(meta_keys)

    @staticmethod
    def _pack_imgs(results: dict) -> torch.Tensor:
        imgs = results['imgs']
        is_image = results.get('modality', 'video') == 'image'
        clip_len = 1 if is_image else results.get('clip_len', len(imgs))
        views = len(imgs) // clip_len
        # A crop is a view into the decoded frames: copy it out so that only
        # its pixels travel to the main process.
        frames = torch.from_numpy(np.ascontiguousarray(imgs))
        # (V, T, H, W, C) -> (V, C, T, H, W) as a view: the layout change
        # is done on the device by the data preprocessor, not in the worker.
        out = frames.view((views, clip_len) + imgs.shape[1:])
        out = out.permute(0, 4, 1, 2, 3)
        if is_image:
            out = out[:, :, 0]
        return out[0] if views == 1 else out

    def transform(self, results: dict) -> dict:
        sample = ActionDataSample()
        label = results.get('label')
        if label is not None:
            sample.gt_label = torch.as_tensor(
                np.atleast_1d(label), dtype=torch.long)
        if 'gt_bboxes' in results:
            instances = InstanceData(
                bboxes=torch.as_tensor(results['gt_bboxes']).float())
            if 'gt_labels' in results:
                instances.labels = torch.as_tensor(results['gt_labels'])
            sample.gt_instances = instances
        if 'proposals' in results:
            proposals = InstanceData(
                bboxes=torch.as_tensor(results['proposals']).float())
            if 'proposal_scores' in results:
                proposals.scores = torch.as_tensor(
                    results['proposal_scores']).float()
            sample.proposals = proposals
        if 'prior_bboxes' in results:
            priors = BaseDataElement()
            for key, field in PRIOR_KEYS.items():
                if key in results:
                    priors.set_field(torch.as_tensor(results[key]), field)
            priors.valid = torch.as_tensor(results['prior_box_types']) >= 0
            sample.priors = priors
        sample.set_metainfo(
            {k: results[k]
             for k in self.meta_keys if k in results})
        return dict(inputs=self._pack_imgs(results), data_samples=sample)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
