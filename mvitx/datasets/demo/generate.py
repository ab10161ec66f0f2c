"""The whole demo dataset at one of a few sizes (:data:`SCALES`), as
``tools/data/make_demo_data.py`` writes it (``docs/demo_data.md``)."""
import os.path as osp

from .ava import make_ava, make_ava_kinetics
from .imagenet import make_imagenet
from .kinetics import make_kinetics

_SMALL = dict(
    train_images=100,
    val_images=20,
    train_videos=24,
    val_videos=8,
    train_movies=6,
    val_movies=22,
    movie_seconds=8)
#: Items per class (AVA: movies per split, and their length) of each scale.
#: 'study' is 'small' with more Kinetics-style videos and a held-out test
#: split (``videos_test``, ``test_list.txt``), for the demo studies that
#: train to convergence (``docs/topdown.md``).
SCALES = {
    'small':
    _SMALL,
    'study':
    dict(_SMALL, train_videos=100, val_videos=20, test_videos=50),
    'tiny':
    dict(
        train_images=2,
        val_images=1,
        train_videos=1,
        val_videos=1,
        train_movies=2,
        val_movies=1,
        movie_seconds=4),
}


def make_demo_data(out: str,
                   seed: int = 0,
                   scale: str = 'small',
                   image_size: int = 64,
                   video_size: int = 64,
                   num_frames: int = 16,
                   video_classes: str = 'demo') -> None:
    """Writes the whole demo dataset under ``out`` (``imagenet/``,
    ``kinetics/`` and ``ava/``, with ``ava/kinetics/``); see
    :func:`make_imagenet`, :func:`make_kinetics`, :func:`make_ava` and
    :func:`make_ava_kinetics`.

    Args:
        out (str): Output folder.
        seed (int): Random seed. Defaults to 0.
        scale (str): A key of :data:`SCALES`. Defaults to ``'small'``.
        image_size (int): Image side in pixels. Defaults to 64.
        video_size (int): Video frame side in pixels. Defaults to 64.
        num_frames (int): Frames per video. Defaults to 16.
        video_classes (str): The Kinetics part's classes, ``'demo'`` (the
            default) or ``'objects'`` (one '<shape> slides' class per image
            class, the co-training positive control); see
            :data:`~mvitx.datasets.demo.kinetics.VIDEO_CLASS_SETS`.
    """
    if scale not in SCALES:
        raise ValueError(f'scale {scale!r}: expected one of {sorted(SCALES)}')
    counts = SCALES[scale]
    make_imagenet(osp.join(out, 'imagenet'), seed, counts, image_size)
    make_kinetics(
        osp.join(out, 'kinetics'), seed, counts, video_size, num_frames,
        video_classes)
    make_ava(osp.join(out, 'ava'), seed, counts)
    make_ava_kinetics(osp.join(out, 'ava'), seed)
