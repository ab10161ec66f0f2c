"""``mvitx.datasets.demo.generate``: the whole demo set, the same bytes for
the same seed."""
import hashlib
import os
import os.path as osp

import pytest

from mvitx.datasets.demo import SCALES, make_demo_data
from mvitx.datasets.demo.ava import AVA_FPS, AVA_KINETICS_CLIPS
from mvitx.datasets.demo.kinetics import VIDEO_CLASSES
from mvitx.datasets.demo.render import SHAPES


def tree_hashes(root):
    """Relative path -> sha256 of every file under ``root``."""
    hashes = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = osp.join(folder, name)
            with open(path, 'rb') as f:
                hashes[osp.relpath(path, root)] = hashlib.sha256(
                    f.read()).hexdigest()
    return hashes


def test_same_seed_same_bytes_and_seeds_differ(tmp_path):
    make_demo_data(str(tmp_path / 'a'), seed=0, scale='tiny')
    make_demo_data(str(tmp_path / 'b'), seed=0, scale='tiny')
    reference = tree_hashes(tmp_path / 'a')
    assert tree_hashes(tmp_path / 'b') == reference
    # jpg + mp4 + npz per item, plus the 8 annotation files; per AVA movie
    # an mp4, its JPEG frames and an npz, plus 6 annotation files; per
    # AVA-Kinetics clip an mp4, plus 4 annotation files.
    counts = SCALES['tiny']
    num_images = len(SHAPES) * (counts['train_images'] + counts['val_images'])
    num_videos = len(VIDEO_CLASSES) * (
        counts['train_videos'] + counts['val_videos'])
    num_movies = counts['train_movies'] + counts['val_movies']
    movie_files = 2 + counts['movie_seconds'] * AVA_FPS
    num_clips = sum(AVA_KINETICS_CLIPS.values())
    assert len(reference) == (
        num_images + 2 * num_videos + 8 + num_movies * movie_files + 6 +
        num_clips + 4)

    make_demo_data(str(tmp_path / 'seed1'), seed=1, scale='tiny')
    other = tree_hashes(tmp_path / 'seed1')
    media = [k for k in reference if k.endswith(('.JPEG', '.jpg'))]
    assert all(other[k] != reference[k] for k in media)
    # Kinetics file names carry random ids, so they differ as a whole.
    kinetics = {k for k in other if k.startswith('kinetics/videos')}
    assert kinetics and not kinetics & set(reference)


def test_unknown_scale_is_named(tmp_path):
    with pytest.raises(
            ValueError, match=r"'huge'.*\['small', 'study', 'tiny'\]"):
        make_demo_data(str(tmp_path), scale='huge')
    assert not os.listdir(tmp_path)
