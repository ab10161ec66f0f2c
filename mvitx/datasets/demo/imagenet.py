"""The ImageNet-style part of the demo data: one shape per image (the object
classes of :data:`~mvitx.datasets.demo.render.SHAPES`) in the ImageNet folder
layout with list files."""
import os
import os.path as osp

from .render import (SHAPES, SPLITS, item_rng, render, sample_background,
                     sample_object, write_jpeg)


def make_imagenet(root: str, seed: int, counts: dict, size: int) -> None:
    """Writes ``root/{train,val}/<class>/*.JPEG`` and ``root/meta``.

    ``meta/{split}.txt`` lines are ``<class>/<file> <label>`` relative to
    ``root/<split>``; ``meta/classes.txt`` has one class name a line.

    Args:
        root (str): Output folder.
        seed (int): Random seed.
        counts (dict): Images per class, ``train_images`` and
            ``val_images`` (see
            :data:`~mvitx.datasets.demo.generate.SCALES`).
        size (int): Image side in pixels.
    """
    os.makedirs(osp.join(root, 'meta'), exist_ok=True)
    for split in SPLITS:
        lines = []
        for label, shape in enumerate(SHAPES):
            os.makedirs(osp.join(root, split, shape), exist_ok=True)
            for index in range(counts[f'{split}_images']):
                rng = item_rng(seed, 'image', split, label, index)
                obj = sample_object(rng, shape, size, (0.12, 0.38))
                margin = obj['radius'] + 1
                center = rng.uniform(margin, size - 1 - margin, (1, 2))
                frames, _, _ = render(
                    sample_background(rng, size), obj, center)
                name = f'{shape}/{shape}_{split}_{index:05d}.JPEG'
                write_jpeg(osp.join(root, split, name), frames[0])
                lines.append(f'{name} {label}\n')
        with open(osp.join(root, 'meta', f'{split}.txt'), 'w') as f:
            f.writelines(lines)
    with open(osp.join(root, 'meta', 'classes.txt'), 'w') as f:
        f.writelines(f'{shape}\n' for shape in SHAPES)
