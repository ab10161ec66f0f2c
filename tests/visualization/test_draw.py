import numpy as np
import torch

from mvitx.visualization import render_attention


def test_render_attention_keeps_pixels_without_attention():
    frames = np.full((4, 8, 8, 3), 100, np.uint8)
    maps = torch.zeros(2, 4, 4)
    maps[0, 1, 2] = 0.5
    maps[1, 3, 3] = 1.
    image = render_attention(frames, maps, 0.6)
    assert image.shape == (8, 32, 3) and image.dtype == np.uint8
    changed = (image != 100).any(-1)
    expected = np.zeros((8, 32), bool)
    for f in range(4):  # frames 0, 1 show map 0; frames 2, 3 map 1
        y, x = (2, 4) if f < 2 else (6, 6)
        expected[y:y + 2, 8 * f + x:8 * f + x + 2] = True
    assert (changed == expected).all()
    # The strongest cell is drawn hotter (redder) than the weaker one.
    assert image[6, 16 + 6, 0] > image[2, 4, 0]
