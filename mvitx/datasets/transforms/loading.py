"""Loading: video decoding of only the sampled frames (decord or PyAV),
frame sampling, and image loading (an image is a clip of one frame)."""
from typing import List, Tuple

import cv2
import numpy as np
from mmcv.transforms import BaseTransform

from mvitx.registry import TRANSFORMS


class BrokenInputError(RuntimeError):
    """A video or image that cannot be opened or decoded.

    Args:
        filename (str): The offending file.
        reason (str): What went wrong (the decoder's message).
    """

    def __init__(self, filename: str, reason: str):
        super().__init__(f'cannot load {filename}: {reason}')
        self.filename = filename
        self.reason = reason


class _VideoInit(BaseTransform):
    """Opens ``results['filename']``; subclasses implement :meth:`open`.

    Required keys: ``filename``. Added keys: ``video_reader``,
    ``total_frames``, ``avg_fps``.

    Args:
        num_threads (int): Decoder threads per worker. Defaults to 1.

    Raises:
        BrokenInputError: If the file is missing or cannot be opened.
    """

    def __init__(self, num_threads: int = 1):
        self.num_threads = num_threads

    def open(self, filename: str) -> Tuple[object, int, float]:
        """Returns ``(reader, total_frames, fps)``."""
        raise NotImplementedError

    def transform(self, results: dict) -> dict:
        filename = results['filename']
        try:
            reader, total, fps = self.open(filename)
        except Exception as err:  # the decoders raise their own types
            raise BrokenInputError(filename, _first_line(err)) from err
        if total <= 0:
            raise BrokenInputError(filename, 'no video frames')
        results['video_reader'] = reader
        results['total_frames'] = total
        results['avg_fps'] = fps
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(num_threads={self.num_threads})'


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


@TRANSFORMS.register_module()
class DecordInit(_VideoInit):
    """Opens a video with decord, from its path (not read into memory
    first). See :class:`_VideoInit` for keys and arguments."""

    def open(self, filename: str) -> Tuple[object, int, float]:
        import decord
        reader = decord.VideoReader(filename, num_threads=self.num_threads)
        return reader, len(reader), reader.get_avg_fps()


@TRANSFORMS.register_module()
class PyAVInit(_VideoInit):
    """Opens a video with PyAV (FFmpeg); the frame count comes from the
    container (or duration x frame rate when it has none). See
    :class:`_VideoInit` for keys and arguments.

    Frame indices map to timestamps through the average frame rate, so
    this backend assumes a constant frame rate (true of the usual Kinetics
    re-encodes); use :class:`DecordInit` for variable frame rate files.
    """

    def open(self, filename: str) -> Tuple[object, int, float]:
        import av
        container = av.open(filename)
        try:
            stream = container.streams.video[0]
            stream.thread_type = 'NONE' if self.num_threads == 1 else 'AUTO'
            stream.codec_context.thread_count = self.num_threads
            fps = float(stream.average_rate or stream.guessed_rate)
            total = stream.frames
            if not total:  # containers without a frame count (mkv, webm)
                seconds = (
                    float(stream.duration *
                          stream.time_base) if stream.duration else
                    (container.duration or 0) / 1e6)
                total = int(round(seconds * fps))
        except Exception:
            container.close()
            raise
        return container, int(total), fps


@TRANSFORMS.register_module()
class SampleFrames(BaseTransform):
    """Chooses the frame indices of ``num_clips`` clips of ``clip_len``
    frames, ``frame_interval`` apart.

    Training draws each clip's start at random inside its share of the video;
    testing spreads the clips uniformly over the video (PySlowFast's
    multi-clip test). Indices past the end loop back to the start.

    Required keys: ``total_frames``. Added keys: ``frame_inds``
    ``(num_clips * clip_len,)``, ``clip_len``, ``frame_interval``,
    ``num_clips``.

    Args:
        clip_len (int): Frames per clip.
        frame_interval (int): Temporal stride between sampled frames.
            Defaults to 1.
        num_clips (int): Clips per video. Defaults to 1.
        test_mode (bool): Uniform (deterministic) instead of random
            offsets. Defaults to False.
    """

    def __init__(self,
                 clip_len: int,
                 frame_interval: int = 1,
                 num_clips: int = 1,
                 test_mode: bool = False):
        self.clip_len = clip_len
        self.frame_interval = frame_interval
        self.num_clips = num_clips
        self.test_mode = test_mode

    def _clip_offsets(self, total_frames: int) -> np.ndarray:
        span = (self.clip_len - 1) * self.frame_interval + 1
        max_offset = max(total_frames - span, 0)
        if self.test_mode:
            if self.num_clips == 1:
                return np.array([max_offset // 2])
            return np.round(np.linspace(0, max_offset,
                                        self.num_clips)).astype(np.int64)
        # Each clip owns an equal share of the valid start positions.
        bounds = np.linspace(0, max_offset + 1, self.num_clips + 1)
        lows = np.floor(bounds[:-1]).astype(np.int64)
        highs = np.maximum(np.floor(bounds[1:]).astype(np.int64), lows + 1)
        return np.random.randint(lows, highs)

    def transform(self, results: dict) -> dict:
        total = results['total_frames']
        offsets = self._clip_offsets(total)
        steps = np.arange(self.clip_len) * self.frame_interval
        inds = (offsets[:, None] + steps[None, :]).reshape(-1) % total
        results['frame_inds'] = inds.astype(np.int64)
        results['clip_len'] = self.clip_len
        results['frame_interval'] = self.frame_interval
        results['num_clips'] = self.num_clips
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(clip_len={self.clip_len}, '
                f'frame_interval={self.frame_interval}, '
                f'num_clips={self.num_clips}, test_mode={self.test_mode})')


class _VideoDecode(BaseTransform):
    """Decodes the frames at ``frame_inds``, each distinct frame once, in
    one pass over the sorted unique indices; subclasses implement
    :meth:`read`.

    Required keys: ``video_reader``, ``frame_inds``, ``filename``.
    Added keys: ``imgs`` uint8 ``(T, H, W, 3)`` RGB, ``img_shape``,
    ``ori_shape`` (``(H, W)``). Removes ``video_reader``.

    Raises:
        BrokenInputError: If decoding fails.
    """

    def read(self, reader, inds: List[int]) -> np.ndarray:
        """Frames ``(len(inds), H, W, 3)`` at the sorted unique ``inds``."""
        raise NotImplementedError

    def transform(self, results: dict) -> dict:
        reader = results.pop('video_reader')
        inds = np.asarray(results['frame_inds'], dtype=np.int64)
        unique, inverse = np.unique(inds, return_inverse=True)
        try:
            frames = self.read(reader, unique.tolist())
        except Exception as err:
            raise BrokenInputError(results['filename'],
                                   _first_line(err)) from err
        # Repeated or unsorted indices (looped short videos, overlapping
        # test clips) are decoded once and gathered afterwards.
        imgs = frames if np.array_equal(unique, inds) else frames[inverse]
        results['imgs'] = imgs
        results['img_shape'] = imgs.shape[1:3]
        results['ori_shape'] = imgs.shape[1:3]
        return results


@TRANSFORMS.register_module()
class DecordDecode(_VideoDecode):
    """Decodes the sampled frames with decord's ``get_batch``. See
    :class:`_VideoDecode` for keys."""

    def read(self, reader, inds: List[int]) -> np.ndarray:
        return reader.get_batch(inds).asnumpy()


@TRANSFORMS.register_module()
class PyAVDecode(_VideoDecode):
    """Decodes the sampled frames with PyAV: one seek to the key frame
    before the first index, then decoding forward, converting to RGB only
    the frames asked for; closes the container. See :class:`_VideoDecode`
    for keys."""

    @staticmethod
    def _decode_from(container, stream, inds: List[int], seek: bool) -> dict:
        fps, base = float(stream.average_rate), stream.time_base
        start = stream.start_time or 0
        if seek:
            container.seek(
                start + int(inds[0] / fps / base),
                stream=stream,
                backward=True,
                any_frame=False)
        wanted, found = set(inds), {}
        for frame in container.decode(stream):
            index = int(round(float((frame.pts - start) * base) * fps))
            if index in wanted:
                found[index] = frame.to_ndarray(format='rgb24')
            if index >= inds[-1]:
                break
        return found

    def read(self, reader, inds: List[int]) -> np.ndarray:
        with reader:
            stream = reader.streams.video[0]
            found = self._decode_from(reader, stream, inds, inds[0] > 0)
            if len(found) < len(inds) and inds[0] > 0:
                # A seek that overshot (sparse or wrong index): from start.
                reader.seek(0, stream=stream, backward=True)
                found = self._decode_from(reader, stream, inds, False)
            missing = [i for i in inds if i not in found]
            if missing:
                raise ValueError(f'frames {missing[:3]} not found '
                                 '(truncated file?)')
            return np.stack([found[i] for i in inds])


@TRANSFORMS.register_module()
class LoadImage(BaseTransform):
    """Reads an image as a one-frame clip.

    Required keys: ``img_path``. Added keys: ``imgs`` uint8 ``(1, H, W, 3)``
    RGB, ``frame_inds`` ``[0]``, ``total_frames`` 1, ``img_shape``,
    ``ori_shape``.

    Raises:
        BrokenInputError: If the file is missing or not a readable image.
    """

    def transform(self, results: dict) -> dict:
        path = results['img_path']
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            raise BrokenInputError(path, 'missing or not a readable image')
        imgs = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)[None]
        results['imgs'] = imgs
        results['frame_inds'] = np.zeros(1, dtype=np.int64)
        results['total_frames'] = 1
        results['img_shape'] = imgs.shape[1:3]
        results['ori_shape'] = imgs.shape[1:3]
        return results
