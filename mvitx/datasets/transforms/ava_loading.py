"""Loading the keyframe-centred clip of an AVA sample from extracted frames
or from the movie file."""
import os.path as osp

import numpy as np
from mmcv.transforms import BaseTransform

from mvitx.registry import TRANSFORMS
from .loading import BrokenInputError, DecordDecode, DecordInit, read_image


@TRANSFORMS.register_module()
class LoadAVAClip(BaseTransform):
    """Reads ``clip_len`` frames every ``frame_interval`` frames centred on
    the keyframe and converts the normalised boxes to pixels.

    Frame ``i`` of the clip is ``keyframe_ind + (i - clip_len // 2) *
    frame_interval``, clipped to the frames that exist, so both back-ends
    (``backend='frame'``: ``frame_dir``/``filename_tmpl`` images,
    ``'video'``: decord on ``filename``) give the same clip. The same path
    reads AVA movies and the Kinetics clips of AVA-Kinetics.

    A video sample whose ``keyframe_ind`` is None (an
    :class:`~mvitx.datasets.AVADataset` with ``fps=None``) has its keyframe
    at ``keyframe_sec`` seconds at the video's own frame rate (Kinetics
    clips are not all 30 fps); ``frame_interval`` then counts the video's
    frames.

    Required keys: ``backend``, ``keyframe_ind``, ``gt_bboxes_norm``,
    ``proposals_norm`` and ``frame_dir``, ``filename_tmpl``,
    ``start_index``, ``total_frames`` (frames) or ``filename`` (video), and
    ``keyframe_sec`` when ``keyframe_ind`` is None.
    Added keys: ``imgs`` uint8 ``(T, H, W, 3)`` RGB, ``frame_inds``,
    ``clip_len``, ``frame_interval``, ``total_frames``, ``img_shape``,
    ``ori_shape``, ``gt_bboxes`` and ``proposals`` ``(n, 4)`` float32 xyxy
    pixels.

    Args:
        clip_len (int): Frames per clip. Defaults to 16.
        frame_interval (int): Step between frames. Defaults to 4.
        num_threads (int): Decord threads (video back-end). Defaults to 1.

    Raises:
        BrokenInputError: A frame (missing, truncated or not decodable, see
            :func:`~mvitx.datasets.transforms.loading.read_image`), a frame
            folder without frames (``total_frames`` 0) or a video that
            cannot be read.
    """

    def __init__(self,
                 clip_len: int = 16,
                 frame_interval: int = 4,
                 num_threads: int = 1):
        self.clip_len = clip_len
        self.frame_interval = frame_interval
        self.decord_init = DecordInit(num_threads=num_threads)
        self.decord_decode = DecordDecode()

    def _frame_inds(self, keyframe: int, total: int) -> np.ndarray:
        offsets = (np.arange(self.clip_len) -
                   self.clip_len // 2) * self.frame_interval
        return np.clip(keyframe + offsets, 0, total - 1).astype(np.int64)

    @staticmethod
    def _read_frames(results: dict) -> np.ndarray:
        tmpl, first = results['filename_tmpl'], results['start_index']
        paths = [
            osp.join(results['frame_dir'], tmpl.format(ind + first))
            for ind in results['frame_inds']
        ]
        return np.stack([read_image(path) for path in paths])

    def transform(self, results: dict) -> dict:
        if results['backend'] == 'video':
            results = self.decord_init(results)
            if results['keyframe_ind'] is None:
                results['keyframe_ind'] = int(
                    round(results['keyframe_sec'] * results['avg_fps']))
            results['frame_inds'] = self._frame_inds(results['keyframe_ind'],
                                                     results['total_frames'])
            results = self.decord_decode(results)
        else:
            if results['total_frames'] == 0:
                raise BrokenInputError(results['frame_dir'],
                                       'missing or empty frame folder')
            results['frame_inds'] = self._frame_inds(results['keyframe_ind'],
                                                     results['total_frames'])
            imgs = self._read_frames(results)
            results['imgs'] = imgs
            results['img_shape'] = imgs.shape[1:3]
            results['ori_shape'] = imgs.shape[1:3]
        results['clip_len'] = self.clip_len
        results['frame_interval'] = self.frame_interval
        h, w = results['img_shape']
        scale = np.array([w, h, w, h], np.float32)
        results['gt_bboxes'] = results['gt_bboxes_norm'] * scale
        results['proposals'] = results['proposals_norm'] * scale
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(clip_len={self.clip_len}, '
                f'frame_interval={self.frame_interval})')
