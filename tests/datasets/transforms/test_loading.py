from fractions import Fraction

import av
import cv2
import numpy as np
import pytest
from av.video.frame import PictureType

from mvitx.datasets.transforms import (BrokenInputError, DecordDecode,
                                       DecordInit, LoadImage, PyAVDecode,
                                       PyAVInit, SampleFrames)
from mvitx.datasets.transforms.loading import (TorchCodecDecode,
                                               TorchCodecInit, read_image)

BACKENDS = dict(
    decord=(DecordInit, DecordDecode),
    pyav=(PyAVInit, PyAVDecode),
    torchcodec=(TorchCodecInit, TorchCodecDecode))

#: Frames of the index videos; 8 bits of blocks show up to 255.
NUM_FRAMES = 48
#: 29.97 fps.
NTSC_RATE = Fraction(30000, 1001)
#: Frame durations (ms) of the variable frame rate video, in turn.
VFR_DURATIONS = (20, 33, 50, 90, 17)
#: name: (codec, (width, height), rate, key frame interval, B-frames).
INDEX_VIDEOS = {
    'h264_bframes_gop250': ('libx264', (64, 48), 30, 250, 3),
    'h264_bframes_gop12': ('libx264', (64, 48), 30, 12, 3),
    # H.264 in 4:2:0 needs even sizes: 98 x 62 is not a multiple of the
    # 16-pixel macroblock, so the decoder crops.
    'h264_98x62_29.97fps': ('libx264', (98, 62), NTSC_RATE, 250, 3),
    'h264_vfr': ('libx264', (64, 48), None, 250, 3),
    # MPEG-4 part 2 takes odd sizes; OpenCV's writer rounds them down to
    # even ones, so its file is 90 x 58.
    'mpeg4_bframes_97x61': ('mpeg4', (97, 61), 25, 250, 2),
    'mp4v_opencv_90x58_29.97fps': ('mp4v', (90, 58), 29.97, None, 0),
}


def index_frame(index, size):
    """An RGB frame that shows ``index`` in binary, one big black or white
    block per bit (4 x 2 blocks), which survives compression."""
    bits = (index >> np.arange(8)) & 1
    blocks = (bits.reshape(2, 4) * 255).astype(np.uint8)
    img = cv2.resize(blocks, size, interpolation=cv2.INTER_NEAREST)
    return np.repeat(img[..., None], 3, axis=2)


def read_index(frame):
    """The index :func:`index_frame` drew, from each block's centre."""
    h, w = frame.shape[:2]
    index = 0
    for bit in range(8):
        row, col = divmod(bit, 4)
        y, x = int((row + 0.5) * h / 2), int((col + 0.5) * w / 4)
        centre = frame[y - h // 8:y + h // 8, x - w // 16:x + w // 16]
        index |= int(centre.mean() > 127) << bit
    return index


def write_index_video(path, codec, size, rate, gop, bframes):
    """Writes ``NUM_FRAMES`` frames, frame ``n`` showing ``n``; ``rate``
    None writes a variable frame rate (``VFR_DURATIONS``)."""
    if codec == 'mp4v':
        writer = cv2.VideoWriter(
            str(path), cv2.VideoWriter_fourcc(*'mp4v'), rate, size)
        for i in range(NUM_FRAMES):
            writer.write(index_frame(i, size))
        writer.release()
        return
    options = dict(bf=str(bframes), g=str(gop))
    if codec == 'libx264':
        options = dict(
            bf=str(bframes),
            preset='veryfast',
            # No extra key frames at scene cuts: the GOP is the one asked.
            **{'x264-params': f'keyint={gop}:min-keyint={gop}:scenecut=0'})
    with av.open(str(path), 'w') as container:
        stream = container.add_stream(codec, rate=rate or 30, options=options)
        stream.width, stream.height = size
        stream.pix_fmt = 'yuv420p'
        if rate is None:
            stream.codec_context.time_base = Fraction(1, 1000)
        pts = 0
        for i in range(NUM_FRAMES):
            frame = av.VideoFrame.from_ndarray(
                index_frame(i, size), format='rgb24')
            if rate is None:
                frame.pts, frame.time_base = pts, Fraction(1, 1000)
                pts += VFR_DURATIONS[i % len(VFR_DURATIONS)]
            container.mux(stream.encode(frame))
        container.mux(stream.encode())


@pytest.fixture(scope='module')
def index_videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp('index_videos')
    paths = {}
    for name, spec in INDEX_VIDEOS.items():
        paths[name] = str(folder / f'{name}.mp4')
        write_index_video(paths[name], *spec)
    return paths


def pyav_frames(path):
    """Every frame, decoded by PyAV from the start."""
    with av.open(path) as container:
        return np.stack(
            [f.to_ndarray(format='rgb24') for f in container.decode(video=0)])


def opencv_frames(path):
    """Every frame, decoded by OpenCV from the start."""
    cap, frames = cv2.VideoCapture(path), []
    ok, frame = cap.read()
    while ok:
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
        ok, frame = cap.read()
    return np.stack(frames)


def load(backend, path, inds):
    init, decode = BACKENDS[backend]
    results = init().transform(dict(filename=path))
    results['frame_inds'] = np.asarray(inds)
    return decode().transform(results)


@pytest.mark.parametrize('inds', [[0, 3, 6, 9], [20, 2, 2, 23, 11],
                                  list(range(24)), [13, 17]])
@pytest.mark.parametrize('backend,reference', [('decord', pyav_frames),
                                               ('decord', opencv_frames),
                                               ('pyav', opencv_frames),
                                               ('torchcodec', opencv_frames)])
def test_decoded_frames_match_another_decoder(make_video, tmp_path, inds,
                                              backend, reference):
    path = make_video(tmp_path / 'v.mp4')
    reference = reference(path)
    results = load(backend, path, inds)
    imgs = results['imgs']
    assert imgs.dtype == np.uint8 and imgs.shape == (len(inds), 48, 64, 3)
    assert results['total_frames'] == len(reference) == 24
    assert results['img_shape'] == (48, 64)
    assert 'video_reader' not in results
    for frame, ind in zip(imgs, inds):
        diff = np.abs(reference.astype(int) - frame.astype(int))
        # The same frame up to colour-conversion rounding, and no other
        # frame is closer.
        assert diff[ind].mean() < 2
        assert diff.mean(axis=(1, 2, 3)).argmin() == ind


def test_index_videos_are_what_the_tests_claim(index_videos):
    # Decoded from the start, frame n shows n: the definition of frame n
    # that every backend must meet, and a check of the pattern itself.
    for name, path in index_videos.items():
        _, size, rate, gop, bframes = INDEX_VIDEOS[name]
        with av.open(path) as container:
            stream = container.streams.video[0]
            frames = list(container.decode(stream))
            average_rate = stream.average_rate
        assert [read_index(f.to_ndarray(format='rgb24'))
                for f in frames] == list(range(NUM_FRAMES)), name
        assert (frames[0].width, frames[0].height) == size
        types = [PictureType(f.pict_type) for f in frames]
        assert (PictureType.B in types) == (bframes > 0), name
        keys = [i for i, f in enumerate(frames) if f.key_frame]
        if gop is not None:
            assert keys == list(range(0, NUM_FRAMES, gop)), name
        if rate is None:
            times = np.array([float(f.time) for f in frames])
            steps = np.round(np.diff(times) * 1000)
            assert set(steps) == set(VFR_DURATIONS), name
        else:
            assert abs(float(average_rate) - float(rate)) < 0.01, name


@pytest.mark.parametrize('name', sorted(INDEX_VIDEOS))
@pytest.mark.parametrize('backend', sorted(BACKENDS))
def test_backend_is_frame_accurate(index_videos, backend, name):
    # Frame n is the n-th frame in presentation order, also at a variable
    # frame rate, whatever the request's order, repeats or key frames.
    n = NUM_FRAMES
    requests = [
        list(range(n)), [n - 1, 0, 29, 29, 13, n - 2],
        list(range(21, n, 4)), [n - 1]
    ]
    for inds in requests:
        results = load(backend, index_videos[name], inds)
        assert results['total_frames'] == n
        assert [read_index(f) for f in results['imgs']] == inds


def test_pyav_frame_accurate_with_threads(index_videos):
    path = index_videos['h264_bframes_gop250']
    inds = [45, 2, 17, 18, 30]
    results = PyAVInit(num_threads=2).transform(dict(filename=path))
    results['frame_inds'] = np.array(inds)
    imgs = PyAVDecode().transform(results)['imgs']
    assert [read_index(f) for f in imgs] == inds


@pytest.mark.parametrize('backend', sorted(BACKENDS))
@pytest.mark.parametrize('filename', ['missing.mp4', 'corrupt.mp4'])
def test_broken_video_raises_with_name(tmp_path, filename, backend):
    path = tmp_path / filename
    if filename == 'corrupt.mp4':
        path.write_bytes(b'\x00\x00\x00\x18ftypmp42' + b'garbage' * 50)
    with pytest.raises(BrokenInputError, match=filename) as info:
        load(backend, str(path), [0])
    assert info.value.filename == str(path)


@pytest.mark.parametrize('backend', sorted(BACKENDS))
def test_truncated_video_raises_with_name(make_video, tmp_path, backend):
    full = make_video(tmp_path / 'full.mp4', num_frames=60)
    data = open(full, 'rb').read()
    cut = tmp_path / 'cut.mp4'
    # mp4v writes the index (moov) last: cutting the tail makes the file
    # unreadable
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(BrokenInputError, match='cut.mp4'):
        load(backend, str(cut), [0, 50])


def test_sample_frames_train_within_video():
    np.random.seed(0)
    sampler = SampleFrames(clip_len=4, frame_interval=3, num_clips=2)
    seen = set()
    for _ in range(50):
        out = sampler.transform(dict(total_frames=40))
        inds = out['frame_inds'].reshape(2, 4)
        assert np.all(np.diff(inds, axis=1) == 3)
        assert inds.min() >= 0 and inds.max() < 40
        # clip k starts inside its share of the valid offsets [0, 30)
        assert inds[0, 0] < 15 <= inds[1, 0]
        seen.add(inds[0, 0])
    assert len(seen) > 5  # random offsets


def test_sample_frames_test_uniform_and_loop():
    sampler = SampleFrames(
        clip_len=2, frame_interval=2, num_clips=3, test_mode=True)
    inds = sampler.transform(dict(total_frames=23))['frame_inds']
    np.testing.assert_array_equal(inds, [0, 2, 10, 12, 20, 22])
    one = SampleFrames(clip_len=4, frame_interval=2, test_mode=True)
    np.testing.assert_array_equal(
        one.transform(dict(total_frames=17))['frame_inds'], [5, 7, 9, 11])
    # shorter than the clip: loops
    short = SampleFrames(clip_len=4, frame_interval=2)
    np.testing.assert_array_equal(
        short.transform(dict(total_frames=5))['frame_inds'], [0, 2, 4, 1])


def test_load_image_is_one_frame_rgb(make_jpeg, tmp_path):
    path = make_jpeg(tmp_path / 'a.JPEG', value=10)
    out = LoadImage().transform(dict(img_path=path))
    assert out['imgs'].shape == (1, 30, 40, 3)
    bgr = cv2.imread(path)
    np.testing.assert_array_equal(out['imgs'][0], bgr[..., ::-1])
    with pytest.raises(BrokenInputError, match='nope.JPEG'):
        LoadImage().transform(dict(img_path=str(tmp_path / 'nope.JPEG')))


def test_read_image_refuses_damaged_files_only(make_jpeg, tmp_path):
    path = make_jpeg(tmp_path / 'a.jpg', size=(64, 48))
    data = open(path, 'rb').read()
    # Zero bytes after the end-of-image marker are padding, not damage.
    (tmp_path / 'padded.jpg').write_bytes(data + bytes(16))
    np.testing.assert_array_equal(
        read_image(str(tmp_path / 'padded.jpg')), read_image(path))
    cases = {
        'cut.jpg': (data[:len(data) // 2], 'truncated JPEG'),
        'empty.png': (b'', 'empty file'),
    }
    png = cv2.imencode('.png', cv2.imread(path))[1].tobytes()
    cases['cut.png'] = (png[:len(png) // 2], 'decoder failed')
    for name, (content, reason) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(BrokenInputError, match=f'{name}: .*{reason}'):
            read_image(str(tmp_path / name))


def test_pyav_counts_frames_without_container_count(tmp_path):
    # Matroska stores no frame count: PyAVInit derives it from the duration.
    path = str(tmp_path / 'v.mkv')
    with av.open(path, 'w') as container:
        stream = container.add_stream('mpeg4', rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, 'yuv420p'
        for i in range(30):
            img = np.zeros((48, 64, 3), np.uint8)
            img[:, 2 * i:2 * i + 4] = 255
            frame = av.VideoFrame.from_ndarray(img, format='rgb24')
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    results = load('pyav', path, [3, 25, 29])
    assert results['total_frames'] == 30
    # frame i has its bar starting at x = 2 i
    starts = [int(np.argmax(f[10, :, 0] > 127)) for f in results['imgs']]
    assert starts == [6, 50, 58]
