"""Drawing for people: priors over frames, attention over frames, grids.

Pure numpy/OpenCV on RGB ``uint8`` arrays, shared by the tools
(``tools/visualize_priors.py``) and hooks (``TopDownAttentionHook``).
"""
from typing import Optional, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from mvitx.structures import BOX_TYPES, PAD_TYPE

#: RGB colour of each box type.
TYPE_COLORS = {
    BOX_TYPES['person']: (60, 220, 60),
    BOX_TYPES['hand']: (255, 210, 0),
    BOX_TYPES['face']: (255, 60, 255),
    BOX_TYPES['object']: (0, 220, 255),
}
TYPE_NAMES = {v: k for k, v in BOX_TYPES.items()}
#: Keypoint colours: left of a flip pair, right of a flip pair, others.
LEFT_COLOR, RIGHT_COLOR, CENTRE_COLOR = (255, 80, 80), (80, 140,
                                                        255), (255, 255, 255)


def draw_priors(frame: np.ndarray,
                priors: dict,
                index: int,
                flip_pairs: Sequence[Sequence[int]],
                kpt_thr: float,
                scale: float,
                class_names: Optional[Sequence[str]] = None) -> np.ndarray:
    """Draws frame ``index`` of aligned priors on an RGB ``frame``: boxes
    coloured by type with their score, objects named by their detector
    class and joined to the hand or person box they are linked to,
    keypoints.

    Args:
        frame (np.ndarray): ``(H, W, 3)`` uint8 RGB.
        priors (dict): Output of
            :func:`~mvitx.datasets.prior_store.align_priors` for ``frame``'s
            clip.
        index (int): Row of ``priors`` that belongs to ``frame``.
        flip_pairs (Sequence[Sequence[int]]): Left/right keypoint pairs
            (left ids in red, right in blue).
        kpt_thr (float): Keypoints below this score are not drawn.
        scale (float): Upscaling before drawing, so small frames stay
            legible.
        class_names (Sequence[str], optional): The detector's classes
            (``meta['det_classes']`` of an extracted prior file), indexed by
            ``box_classes``; None labels boxes by type only. Defaults to
            None.

    Returns:
        np.ndarray: ``(H * scale, W * scale, 3)`` uint8 RGB.
    """
    height, width = frame.shape[:2]
    size = (int(round(width * scale)), int(round(height * scale)))
    canvas = np.ascontiguousarray(
        cv2.resize(frame, size, interpolation=cv2.INTER_NEAREST))
    thick = max(1, int(round(scale / 2)))
    boxes, types = priors['boxes'][index], priors['box_types'][index]
    centres = ((boxes[:, :2] + boxes[:, 2:]) * scale / 2).round().astype(int)
    for slot, (box, type_id, score, class_id, link) in enumerate(
            zip(boxes, types, priors['box_scores'][index],
                priors['box_classes'][index], priors['box_links'][index])):
        if type_id == PAD_TYPE:
            continue
        color = TYPE_COLORS[int(type_id)]
        x1, y1, x2, y2 = (box * scale).round().astype(int)
        cv2.rectangle(canvas, (x1, y1), (x2 - 1, y2 - 1), color, thick)
        name = TYPE_NAMES[int(type_id)]
        if type_id == BOX_TYPES['object'] and class_names is not None \
                and class_id >= 0:
            name = class_names[class_id]
        cv2.putText(canvas, f'{name} {score:.2f}', (x1 + 2, max(y1 - 3, 10)),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.35, color, 1, cv2.LINE_AA)
        if link >= 0 and types[link] != PAD_TYPE:
            cv2.line(canvas, tuple(centres[slot].tolist()),
                     tuple(centres[link].tolist()), color, thick, cv2.LINE_AA)
    side = {i: LEFT_COLOR for i, _ in flip_pairs}
    side.update({j: RIGHT_COLOR for _, j in flip_pairs})
    for person in priors['keypoints'][index]:
        for k, (x, y, score) in enumerate(person):
            if score < kpt_thr or score <= 0:
                continue
            cv2.circle(canvas, (int(round(x * scale)), int(round(y * scale))),
                       thick + 1, side.get(k, CENTRE_COLOR), -1, cv2.LINE_AA)
    if priors['source_frame'][index] < 0:
        cv2.putText(canvas, 'no priors', (4, size[1] - 6),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 0, 0), 1, cv2.LINE_AA)
    return canvas


def make_grid(images: Sequence[np.ndarray], cols: int) -> np.ndarray:
    """Tiles equally sized images row by row (2-pixel black gutters)."""
    h, w = images[0].shape[:2]
    cols = min(cols, len(images))
    rows = -(-len(images) // cols)
    grid = np.zeros((rows * (h + 2) - 2, cols * (w + 2) - 2, 3), np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, cols)
        grid[r * (h + 2):r * (h + 2) + h, c * (w + 2):c * (w + 2) + w] = image
    return grid


def render_attention(frames: np.ndarray, maps: torch.Tensor,
                     alpha: float) -> np.ndarray:
    """Overlays attention maps on frames, frames side by side.

    Frame ``f`` of ``T`` shows map ``f * T0 // T``; each map is scaled to
    its maximum over the clip and drawn per token cell (nearest), so pixels
    of cells without attention keep the frame's colours.

    Args:
        frames (np.ndarray): ``(T, H, W, 3)`` uint8 RGB frames.
        maps (Tensor): ``(T0, H0, W0)`` non-negative attention.
        alpha (float): Opacity of the heat map where attention is maximal.

    Returns:
        np.ndarray: ``(H, T * W, 3)`` uint8 RGB image.
    """
    num_t, h, w = frames.shape[:3]
    maps = maps.detach().float().cpu()
    maps = maps / maps.max().clamp(min=1e-12)
    maps = F.interpolate(maps[None], size=(h, w), mode='nearest')[0]
    frame_t = np.arange(num_t) * maps.shape[0] // num_t
    heat = maps[frame_t].numpy()[..., None]  # (T, H, W, 1)
    colours = np.stack([
        cv2.applyColorMap(np.uint8(255 * m[..., 0]), cv2.COLORMAP_JET)
        for m in heat
    ])[..., ::-1]
    blend = frames * (1 - alpha * heat) + colours * alpha * heat
    blend = np.clip(np.rint(blend), 0, 255).astype(np.uint8)
    return np.concatenate(list(blend), axis=1)
