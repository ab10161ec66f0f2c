"""Logit adjustment by training class frequency (Menon et al., "Long-tail
learning via logit adjustment", ICLR 2021), in the binary form for
per-class sigmoid classifiers such as AVA's."""
from typing import Sequence, Union

import numpy as np
import torch

from mvitx.datasets.ava_files import read_ava_csv


def actor_class_priors(ann_file: str, num_classes: int) -> np.ndarray:
    """Fraction of the training actor boxes that carry each action.

    An actor box is one distinct box of a keyframe (the rows of one person
    share it); ``p_c`` is the number of actor boxes with action ``c``
    divided by the number of actor boxes. A class without a box counts half
    a box (``p_c = 0.5 / boxes``), so its log-odds stay finite; ``p_c`` is
    at most ``1 - 0.5 / boxes`` for the same reason.

    Args:
        ann_file (str): Training CSV of AVA or AVA-Kinetics (rows ``video,
            timestamp, x1, y1, x2, y2, action[, person]``).
        num_classes (int): Length of the result (entry ``j`` is action id
            ``j + 1``).

    Returns:
        np.ndarray: ``(num_classes,)`` float64 priors in ``(0, 1)``.

    Raises:
        ValueError: A malformed row (with file and line), an action id
            outside ``[1, num_classes]`` (with file), or no actor box.
    """
    counts = np.zeros(num_classes, np.float64)
    num_boxes = 0
    for boxes, labels, _ in read_ava_csv(ann_file, precise=True).values():
        if not len(labels):
            continue
        if labels.min() < 1 or labels.max() > num_classes:
            raise ValueError(f'{ann_file}: action ids must be in [1, '
                             f'num_classes={num_classes}], got '
                             f'{sorted(set(labels.tolist()))}')
        unique, actor = np.unique(boxes, axis=0, return_inverse=True)
        num_boxes += len(unique)
        # One count per (actor, action), however often a row repeats.
        pairs = np.unique(np.stack([actor.ravel(), labels], 1), axis=0)
        np.add.at(counts, pairs[:, 1] - 1, 1)
    if num_boxes == 0:
        raise ValueError(f'{ann_file}: no actor box to count classes in')
    half = 0.5 / num_boxes
    return np.clip(counts / num_boxes, half, 1 - half)


def binary_logit_adjustment(priors: Union[Sequence[float], np.ndarray],
                            tau: float) -> torch.Tensor:
    """The offsets ``tau * log(p_c / (1 - p_c))`` added to the class
    logits in training (not at inference), so that rare classes must
    score higher to cut the loss.

    Args:
        priors (Sequence[float] | np.ndarray): ``(C,)`` class frequencies
            in ``(0, 1)`` (:func:`actor_class_priors`).
        tau (float): Strength; 0 gives zero offsets.

    Returns:
        Tensor: ``(C,)`` float32 offsets.

    Raises:
        ValueError: A prior outside ``(0, 1)``.
    """
    priors = torch.as_tensor(np.asarray(priors, np.float64))
    if not bool(((priors > 0) & (priors < 1)).all()):
        raise ValueError('class priors must be in (0, 1), got '
                         f'{priors.tolist()}')
    return (tau * torch.log(priors / (1 - priors))).float()
