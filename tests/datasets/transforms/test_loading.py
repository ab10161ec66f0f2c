import av
import cv2
import numpy as np
import pytest

from mvitx.datasets.transforms import (BrokenInputError, DecordDecode,
                                       DecordInit, LoadImage, PyAVDecode,
                                       PyAVInit, SampleFrames)

BACKENDS = dict(decord=(DecordInit, DecordDecode), pyav=(PyAVInit, PyAVDecode))


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
                                               ('pyav', opencv_frames)])
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
