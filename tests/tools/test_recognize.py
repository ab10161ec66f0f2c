"""``tools/demo/recognize.py`` prints the top-k of a demo video or image and
writes it back with the labels drawn."""
import decord
import numpy as np
import pytest

from mvitx.datasets.transforms.loading import read_image
from mvitx.visualization import draw_labels
from mvitx.visualization.labels import PANEL_SHADE
from tests.apis import test_inference as inference_tests
from tests.helpers import load_tool, run_script

CONFIG = inference_tests.CONFIG
#: The demo data and a checkpoint trained on it (once for this module).
demo_run = inference_tests.demo_run

#: Demo frames are 64 px: drawing enlarges them 4x to reach 256 px.
FACTOR = 4


def assert_labelled(written, source):
    """``written`` is ``source`` enlarged FACTOR times, with text on a dark
    panel at the top left and nothing drawn on the lower half."""
    expected = np.repeat(np.repeat(source, FACTOR, 0), FACTOR, 1)
    assert written.shape == expected.shape
    diff = np.abs(written.astype(int) - expected).max(-1)
    panel = diff[:40, :80]
    # every panel pixel is darkened or covered by text
    assert (panel > 30).mean() > 0.5, (panel > 30).mean()
    # lossy codecs change pixels a little everywhere else
    assert diff[len(diff) // 2:].mean() < 6, diff[len(diff) // 2:].mean()


def test_video_with_labels(demo_run, tmp_path):
    video = sorted((demo_run.data / 'kinetics' / 'videos_val').glob('*.mp4'))
    video, out = str(video[0]), tmp_path / 'annotated.mp4'
    proc = run_script(
        'tools/demo/recognize.py',
        video,
        CONFIG,
        demo_run.checkpoint,
        '--out',
        out,
        '--topk',
        '3',
        '--source',
        'demo_vid',
        cwd=tmp_path,
        check=True)
    lines = proc.stdout.splitlines()
    assert len(lines) == 4 and lines[-1] == f'written to {out}'
    classes = (demo_run.data / 'kinetics' / 'classes.txt').read_text()
    for line in lines[:3]:
        name, score = line.rsplit(' ', 1)
        assert name in classes.splitlines() and 0 <= float(score) <= 1
    source = decord.VideoReader(video)
    written = decord.VideoReader(str(out))
    assert len(written) == len(source) > 1
    for i in (0, len(source) - 1):
        assert_labelled(written[i].asnumpy(), source[i].asnumpy())


def test_image_with_labels(demo_run, tmp_path, capsys):
    image = sorted((demo_run.data / 'imagenet' / 'val').rglob('*.JPEG'))[0]
    out = str(tmp_path / 'annotated.jpg')
    results = load_tool('tools/demo/recognize.py').main(
        [str(image), CONFIG,
         str(demo_run.checkpoint), '--out', out])
    assert list(results) == ['demo_img']
    assert len(capsys.readouterr().out.splitlines()) == 5 + 1
    assert_labelled(read_image(out), read_image(str(image)))


def test_draw_labels_shades_only_the_panel():
    image = np.full((300, 400, 3), 200, np.uint8)
    drawn = draw_labels(image, ['a label 0.123', 'another 0.045'])
    assert drawn.shape == image.shape  # at least 256 px: not enlarged
    shaded = int(200 * PANEL_SHADE)
    rows = np.nonzero((drawn[:, 0] == shaded).all(-1))[0]
    cols = np.nonzero((drawn[0] == shaded).all(-1))[0]
    assert rows[0] == 0 and cols[0] == 0
    panel = drawn[:rows[-1] + 1, :cols[-1] + 1]
    assert (panel > 150).all(-1).sum() > 100  # the text
    assert (drawn[rows[-1] + 1:] == 200).all()
    assert (drawn[:, cols[-1] + 1:] == 200).all()
    assert (draw_labels(image, []) == image).all()


def test_mismatched_output_is_refused(demo_run, tmp_path):
    image = sorted((demo_run.data / 'imagenet' / 'val').rglob('*.JPEG'))[0]
    tool = load_tool('tools/demo/recognize.py')
    with pytest.raises(ValueError, match='is an image; write it as an image'):
        tool.main([
            str(image), CONFIG,
            str(demo_run.checkpoint), '--out',
            str(tmp_path / 'out.mp4')
        ])
    assert not (tmp_path / 'out.mp4').exists()
