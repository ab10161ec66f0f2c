import numpy as np

from mvitx.structures.bbox import box_iou


def test_box_iou():
    a = np.array([[0, 0, 10, 10], [0, 0, 4, 4]], np.float32)
    b = np.array([[5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 10, 10]],
                 np.float32)
    iou = box_iou(a, b)
    assert iou.shape == (2, 3)
    np.testing.assert_allclose(iou[0], [50 / 150, 0, 1], rtol=1e-6)
    np.testing.assert_allclose(iou[1], [0, 0, 16 / 100], rtol=1e-6)
    assert box_iou(a[:0], b).shape == (0, 3)
