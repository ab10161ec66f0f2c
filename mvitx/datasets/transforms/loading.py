"""Loading: video decoding of only the sampled frames (decord, PyAV or
torchcodec), frame sampling, and image reading that refuses truncated files
(an image is a clip of one frame)."""
from typing import List, NamedTuple, Tuple

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


class PyAVVideo(NamedTuple):
    """A video opened by :class:`PyAVInit`.

    Attributes:
        container (av.container.InputContainer): The open file.
        stream (av.video.stream.VideoStream): Its first video stream.
        packets (list): The stream's packets in decoding order.
        frame_pts (list): Presentation timestamps in presentation order:
            frame ``n`` is the one at ``frame_pts[n]``.
    """
    container: object
    stream: object
    packets: list
    frame_pts: list


@TRANSFORMS.register_module()
class PyAVInit(_VideoInit):
    """Opens a video with PyAV (FFmpeg) and reads its packets without
    decoding them. See :class:`_VideoInit` for keys and arguments.

    The packets' presentation timestamps place every frame: frame ``n`` is
    the ``n``-th in presentation order, i.e. the ``n``-th frame a decoder
    outputs from the start of the file, at a constant or variable frame
    rate and in any container (``total_frames`` counts the frames instead
    of trusting the header). ``video_reader`` is a :class:`PyAVVideo`: the
    compressed video stays in memory until :class:`PyAVDecode` has run.
    """

    def open(self, filename: str) -> Tuple[PyAVVideo, int, float]:
        import av
        container = av.open(filename)
        try:
            stream = container.streams.video[0]
            stream.thread_type = 'NONE' if self.num_threads == 1 else 'AUTO'
            stream.codec_context.thread_count = self.num_threads
            # The last packet is an empty one that marks the end.
            packets = [p for p in container.demux(stream) if p.size]
            if any(p.pts is None for p in packets):
                raise ValueError('packets without timestamps')
            # The decoder drops the frames of discarded packets (those an
            # edit list cuts), so they have no index.
            frame_pts = sorted(p.pts for p in packets if not p.is_discard)
            fps = float(stream.average_rate or stream.guessed_rate or 0)
        except Exception:
            container.close()
            raise
        video = PyAVVideo(container, stream, packets, frame_pts)
        return video, len(frame_pts), fps


@TRANSFORMS.register_module()
class TorchCodecInit(_VideoInit):
    """Opens a video with torchcodec's CPU decoder in its exact seek mode
    (it scans the packets first, so frame ``n`` is the ``n``-th in
    presentation order, as with :class:`PyAVInit`). See :class:`_VideoInit`
    for keys and arguments.

    torchcodec loads the system's FFmpeg shared libraries (major versions 4
    to 9); ``tools/install.sh`` installs Debian's.

    Raises:
        ImportError: When the pipeline is built, if torchcodec or FFmpeg's
            libraries are missing (not later, as a broken file per sample).
    """

    def __init__(self, num_threads: int = 1):
        super().__init__(num_threads)
        try:
            from torchcodec.decoders import VideoDecoder
        except (ImportError, RuntimeError) as err:
            raise ImportError(
                'TorchCodecInit needs torchcodec and FFmpeg 4 to 9 shared '
                'libraries (see tools/install.sh): '
                f'{_first_line(err)}') from err
        self._decoder = VideoDecoder

    def open(self, filename: str) -> Tuple[object, int, float]:
        reader = self._decoder(
            filename,
            seek_mode='exact',
            num_ffmpeg_threads=self.num_threads,
            dimension_order='NHWC')
        return reader, len(reader), reader.metadata.average_fps


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
    """Decodes the sampled frames with PyAV from the packets
    :class:`PyAVInit` read, then closes the file. See :class:`_VideoDecode`
    for keys.

    Decoding starts at the last key frame before the first wanted frame
    (no seek: the packets are in memory) and ends with the last packet, in
    decoding order, of a frame shown no later than the last wanted one. A
    frame that is not wanted and that no other frame references (a
    non-reference B-frame: about half the frames of an x264 encode) is
    skipped by the decoder instead of decoded; the wanted frames and the
    frames they depend on are decoded as usual, so every frame returned is
    the one a decoder gives from the start of the file. Only the wanted
    frames are converted to RGB, through one conversion context.
    """

    def read(self, reader: PyAVVideo, inds: List[int]) -> np.ndarray:
        with reader.container:
            wanted = [reader.frame_pts[i] for i in inds]
            start = stop = 0
            for i, packet in enumerate(reader.packets):
                if packet.is_keyframe and packet.pts <= wanted[0]:
                    start = i
                if packet.pts <= wanted[-1]:
                    stop = i + 1
            found = _decode_frames(reader.stream.codec_context,
                                   reader.packets[start:stop], set(wanted))
        missing = [i for i, pts in zip(inds, wanted) if pts not in found]
        if missing:
            raise ValueError(f'frames {missing[:3]} not decoded (truncated '
                             'or damaged file?)')
        return np.stack([found[pts] for pts in wanted])


def _decode_frames(codec, packets: list, wanted: set) -> dict:
    """Feeds ``packets`` to the decoder ``codec``, then drains it, until it
    has output every frame whose timestamp is in ``wanted``; returns them,
    RGB, by timestamp."""
    from av.video.reformatter import VideoReformatter

    # One context for all conversions: a frame's own ``to_ndarray`` builds
    # a new one per frame, which costs more than the conversion.
    to_rgb, found = VideoReformatter(), {}
    for packet in packets + [None]:  # None drains the delayed frames
        if packet is not None:
            codec.skip_frame = 'DEFAULT' if packet.pts in wanted else 'NONREF'
        for frame in codec.decode(packet):
            if frame.pts in wanted:
                found[frame.pts] = to_rgb.reformat(
                    frame, format='rgb24').to_ndarray()
        if len(found) == len(wanted):
            break
    return found


@TRANSFORMS.register_module()
class TorchCodecDecode(_VideoDecode):
    """Decodes the sampled frames with torchcodec's ``get_frames_at``. See
    :class:`_VideoDecode` for keys."""

    def read(self, reader, inds: List[int]) -> np.ndarray:
        return reader.get_frames_at(inds).data.numpy()


#: A JPEG starts with the start-of-image marker and ends with end-of-image.
JPEG_SOI, JPEG_EOI = b'\xff\xd8', b'\xff\xd9'


def read_image(path: str) -> np.ndarray:
    """Reads an image file as uint8 ``(H, W, 3)`` RGB, refusing damaged ones.

    The file is read once and decoded from memory. A JPEG must end with its
    end-of-image marker (``FFD9``; trailing zero bytes of padding are
    allowed): OpenCV decodes a truncated JPEG without an error, filling the
    missing part with grey. Any other damage counts only where the decoder
    fails on it (a garbled header does; scrambled bytes inside the
    compressed data that the decoder recovers from do not).

    Args:
        path (str): The image file (any format OpenCV reads).

    Returns:
        np.ndarray: The image, uint8 ``(H, W, 3)`` RGB.

    Raises:
        BrokenInputError: If the file is missing, empty, a truncated JPEG or
            not decodable.
    """
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except OSError as err:
        raise BrokenInputError(path, err.strerror or str(err)) from err
    if not data:
        raise BrokenInputError(path, 'empty file')
    if data.startswith(JPEG_SOI) and not data.rstrip(b'\0').endswith(JPEG_EOI):
        raise BrokenInputError(path, 'truncated JPEG (no end-of-image '
                               'marker)')
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise BrokenInputError(path, 'not a readable image (the decoder '
                               'failed)')
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


@TRANSFORMS.register_module()
class LoadImage(BaseTransform):
    """Reads an image as a one-frame clip, with :func:`read_image`.

    Required keys: ``img_path``. Added keys: ``imgs`` uint8 ``(1, H, W, 3)``
    RGB, ``frame_inds`` ``[0]``, ``total_frames`` 1, ``img_shape``,
    ``ori_shape``.

    Raises:
        BrokenInputError: If the file is missing, truncated or not a
            readable image.
    """

    def transform(self, results: dict) -> dict:
        imgs = read_image(results['img_path'])[None]
        results['imgs'] = imgs
        results['frame_inds'] = np.zeros(1, dtype=np.int64)
        results['total_frames'] = 1
        results['img_shape'] = imgs.shape[1:3]
        results['ori_shape'] = imgs.shape[1:3]
        return results
