"""``tools/data/make_demo_data.py`` passes its options to
:func:`mvitx.datasets.demo.make_demo_data` (the writers are tested in
``tests/datasets/demo/``)."""
import filecmp
import os

from mvitx.datasets.demo import make_demo_data
from tests.helpers import run_script


def same_tree(a, b):
    """Whether folders ``a`` and ``b`` hold the same files, byte for byte."""
    compared = filecmp.dircmp(a, b)
    if compared.left_only or compared.right_only or compared.funny_files:
        return False
    _, mismatch, errors = filecmp.cmpfiles(
        a, b, compared.common_files, shallow=False)
    return not mismatch and not errors and all(
        same_tree(os.path.join(a, sub), os.path.join(b, sub))
        for sub in compared.common_dirs)


def test_cli_writes_what_make_demo_data_writes(tmp_path):
    options = dict(
        seed=2,
        image_size=32,
        video_size=48,
        num_frames=8,
        video_classes='objects')
    proc = run_script(
        'tools/data/make_demo_data.py',
        '--out',
        tmp_path / 'cli',
        '--scale',
        'tiny',
        *[
            arg for key, value in options.items()
            for arg in (f"--{key.replace('_', '-')}", value)
        ],
        check=True)
    assert (f"wrote {tmp_path / 'cli'} (tiny, objects video classes, "
            'seed 2)') in proc.stdout
    make_demo_data(str(tmp_path / 'api'), scale='tiny', **options)
    assert same_tree(tmp_path / 'cli', tmp_path / 'api')
    make_demo_data(str(tmp_path / 'other'), scale='tiny', seed=2)
    assert not same_tree(tmp_path / 'cli', tmp_path / 'other')
