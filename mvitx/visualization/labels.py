"""Text labels (a recognizer's top-k) drawn on images and every frame of a
video, for ``tools/demo/recognize.py``."""
import math
from typing import Sequence

import cv2
import numpy as np

from mvitx.datasets.image_dataset import IMG_EXTENSIONS
from mvitx.datasets.transforms.loading import read_image

#: Frames whose shorter side is below this are enlarged (by a whole factor,
#: nearest neighbour) before drawing, so that the text stays legible.
MIN_SIDE = 256
#: Brightness kept under the text panel.
PANEL_SHADE = 0.35


def draw_labels(image: np.ndarray,
                lines: Sequence[str],
                min_side: int = MIN_SIDE) -> np.ndarray:
    """Draws lines of white text on a darkened panel at the top left.

    The panel is grey-scale, so the channel order (RGB or BGR) does not
    matter.

    Args:
        image (np.ndarray): ``(H, W, 3)`` uint8.
        lines (Sequence[str]): The text, one entry per line.
        min_side (int): An image whose shorter side is smaller is first
            enlarged by the smallest whole factor that reaches it (each
            pixel repeated). Defaults to :data:`MIN_SIDE`.

    Returns:
        np.ndarray: ``(k * H, k * W, 3)`` uint8, ``k`` the enlargement
        (1 for images of at least ``min_side``).
    """
    height, width = image.shape[:2]
    factor = max(1, math.ceil(min_side / min(height, width)))
    canvas = cv2.resize(
        image, (width * factor, height * factor),
        interpolation=cv2.INTER_NEAREST)
    if not lines:
        return canvas
    font, side = cv2.FONT_HERSHEY_SIMPLEX, min(canvas.shape[:2])
    font_scale = max(side / 512, 0.4)
    thickness = max(1, round(font_scale))
    sizes = [cv2.getTextSize(t, font, font_scale, thickness) for t in lines]
    line_height = max(h + base for (_, h), base in sizes) + 4
    pad = line_height // 3
    right = min(max(w for (w, _), _ in sizes) + 2 * pad, canvas.shape[1])
    bottom = min(line_height * len(lines) + pad, canvas.shape[0])
    panel = canvas[:bottom, :right]
    panel[:] = (panel * PANEL_SHADE).astype(np.uint8)
    for i, text in enumerate(lines):
        baseline = (i + 1) * line_height - sizes[i][1]
        cv2.putText(canvas, text, (pad, baseline), font, font_scale,
                    (255, 255, 255), thickness, cv2.LINE_AA)
    return canvas


def write_labelled(src: str,
                   out: str,
                   lines: Sequence[str],
                   min_side: int = MIN_SIDE) -> int:
    """Writes an image or video file with ``lines`` drawn on it (on every
    frame of a video) by :func:`draw_labels`.

    Args:
        src (str): An image (by its extension, see
            :data:`~mvitx.datasets.image_dataset.IMG_EXTENSIONS`) or a video
            OpenCV reads.
        out (str): An image file for an image, a video file (``.mp4``,
            MPEG-4 at the input's frame rate) for a video.
        lines (Sequence[str]): The text, one entry per line.
        min_side (int): See :func:`draw_labels`. Defaults to
            :data:`MIN_SIDE`.

    Returns:
        int: The number of frames written (1 for an image).

    Raises:
        ValueError: An image written as a video or the other way round, a
            video without readable frames, or an output OpenCV cannot
            write.
    """
    is_image = src.lower().endswith(IMG_EXTENSIONS)
    if is_image != out.lower().endswith(IMG_EXTENSIONS):
        kind = 'an image' if is_image else 'a video'
        raise ValueError(f'{src} is {kind}; write it as {kind} too, '
                         f'not {out}')
    if is_image:
        image = draw_labels(read_image(src), lines, min_side)
        if not cv2.imwrite(out, cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
            raise ValueError(f'cannot write {out}')
        return 1
    capture = cv2.VideoCapture(src)
    # containers that store no frame rate get the usual 25
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.
    writer, count = None, 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frame = draw_labels(frame, lines, min_side)
            if writer is None:
                writer = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*'mp4v'),
                                         fps, frame.shape[1::-1])
                if not writer.isOpened():
                    raise ValueError(f'cannot write {out}')
            writer.write(frame)
            count += 1
    finally:
        capture.release()
        if writer is not None:
            writer.release()
    if count == 0:
        raise ValueError(f'cannot read frames from {src}')
    return count
