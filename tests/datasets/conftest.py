"""Real media files for the dataset and transform tests."""
import cv2
import numpy as np
import pytest


def write_video(path, num_frames=24, size=(64, 48), fps=10):
    """Writes an mp4 (``mp4v``) whose frame ``i`` shows a bright square at
    ``x = 2 * i`` on a gradient, so every frame is distinguishable."""
    w, h = size
    writer = cv2.VideoWriter(
        str(path), cv2.VideoWriter_fourcc(*'mp4v'), fps, (w, h))
    assert writer.isOpened()
    base = np.zeros((h, w, 3), np.uint8)
    base[..., 0] = np.linspace(0, 200, w, dtype=np.uint8)[None]
    base[..., 1] = np.linspace(0, 200, h, dtype=np.uint8)[:, None]
    for i in range(num_frames):
        frame = base.copy()
        x = (2 * i) % (w - 8)
        frame[8:24, x:x + 8] = 255
        writer.write(frame)
    writer.release()
    return str(path)


def write_jpeg(path, size=(40, 30), value=0):
    w, h = size
    img = np.full((h, w, 3), value, np.uint8)
    img[:h // 2] = 255 - value
    assert cv2.imwrite(str(path), img)
    return str(path)


@pytest.fixture
def make_video():
    return write_video


@pytest.fixture
def make_jpeg():
    return write_jpeg
