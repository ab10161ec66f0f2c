"""Blanking of prior regions: the check that a task is decided inside them
(``docs/topdown.md``, "Positive control")."""
from typing import Sequence, Union

import numpy as np
from mmcv.transforms import BaseTransform

from mvitx.registry import TRANSFORMS
from mvitx.structures import FACE, HAND, OBJECT


@TRANSFORMS.register_module()
class BlankRegions(BaseTransform):
    """Paints the prior boxes of some types with a constant colour in every
    frame, so nothing inside them reaches the model.

    A box covers every pixel it overlaps: columns ``floor(x1)`` to
    ``ceil(x2) - 1`` and rows ``floor(y1)`` to ``ceil(y2) - 1`` (pixel-edge
    coordinates, as :class:`LoadPriors` gives them), clipped to the frame.
    Frame ``t`` is blanked with the boxes of prior frame ``t``. The priors
    themselves stay, so a top-down model still looks where they point.

    Place it after :class:`LoadPriors` and the geometric transforms (the
    boxes must be in the coordinates of the frames).

    Required keys: ``imgs`` ``(T, H, W, C)``, ``prior_bboxes`` ``(T, M,
    4)``, ``prior_box_types`` ``(T, M)``. Modified: ``imgs``.

    Args:
        box_types (Sequence[int]): Box types to blank (see
            :data:`mvitx.structures.BOX_TYPES`). Defaults to hand, face and
            object.
        fill (int | Sequence[int]): The colour, one value or one per
            channel. Defaults to 0.

    Raises:
        ValueError: If the boxes do not have one frame per image.
    """

    def __init__(self,
                 box_types: Sequence[int] = (HAND, FACE, OBJECT),
                 fill: Union[int, Sequence[int]] = 0):
        self.box_types = tuple(box_types)
        self.fill = fill

    def transform(self, results: dict) -> dict:
        imgs = results['imgs']
        boxes = results['prior_bboxes']
        if len(boxes) != len(imgs):
            raise ValueError(f'BlankRegions: {len(boxes)} frames of prior '
                             f'boxes for {len(imgs)} images')
        height, width = imgs.shape[1:3]
        imgs = imgs.copy()
        blank = np.isin(results['prior_box_types'], self.box_types)
        for t, slot in zip(*np.nonzero(blank)):
            x1, y1, x2, y2 = boxes[t, slot]
            cols = slice(
                max(int(np.floor(x1)), 0), min(int(np.ceil(x2)), width))
            rows = slice(
                max(int(np.floor(y1)), 0), min(int(np.ceil(y2)), height))
            imgs[t, rows, cols] = self.fill
        results['imgs'] = imgs
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(box_types={self.box_types}, '
                f'fill={self.fill})')
