"""The built-in demo data: small synthetic image, video and AVA-format sets
written from a seed (``tools/data/make_demo_data.py``, ``docs/demo_data.md``).

:mod:`.render` draws and encodes what the image and video writers share;
:mod:`.imagenet`, :mod:`.kinetics` and :mod:`.ava` each write one dataset
kind; :mod:`.generate` writes them all at one of its :data:`SCALES`;
:mod:`.detail` writes the top-down positive control (``docs/topdown.md``).
"""
from .ava import make_ava, make_ava_kinetics
from .detail import vote_accuracy, write_detail_set
from .generate import SCALES, make_demo_data
from .imagenet import make_imagenet
from .kinetics import make_kinetics

__all__ = [
    'SCALES', 'make_ava', 'make_ava_kinetics', 'make_demo_data',
    'make_imagenet', 'make_kinetics', 'vote_accuracy', 'write_detail_set'
]
