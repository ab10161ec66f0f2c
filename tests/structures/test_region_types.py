"""Region type ids are defined once, in ``mvitx.structures``, and the prior
store, the preprocessor and the top-down neck use those."""
import torch
from mmengine.structures import BaseDataElement

from mvitx.datasets import prior_store
from mvitx.models.data_preprocessors import ActionDataPreprocessor
from mvitx.models.necks.topdown import priors_to_regions
from mvitx.structures import (BOX_TYPE_NAMES, BOX_TYPES, FACE, HAND, KEYPOINT,
                              OBJECT, PAD_TYPE, PERSON, REGION_TYPE_NAMES,
                              ActionDataSample)


def test_box_and_region_ids_agree():
    assert prior_store.BOX_TYPES is BOX_TYPES
    assert prior_store.PAD_TYPE == PAD_TYPE
    assert [BOX_TYPES[n]
            for n in BOX_TYPE_NAMES] == [PERSON, HAND, FACE, OBJECT]
    assert REGION_TYPE_NAMES[:len(BOX_TYPE_NAMES)] == BOX_TYPE_NAMES
    assert REGION_TYPE_NAMES[KEYPOINT] == 'keypoint'
    assert PAD_TYPE not in range(len(REGION_TYPE_NAMES))


def test_padded_slots_are_not_regions():
    """The preprocessor pads with ``PAD_TYPE``; the neck drops those."""
    samples = []
    for num_boxes in (1, 2):
        sample = ActionDataSample()
        types = torch.full((1, num_boxes), HAND)
        sample.priors = BaseDataElement(
            bboxes=torch.tensor([[[0., 0., 8., 8.]] * num_boxes]),
            types=types,
            scores=torch.ones(1, num_boxes))
        samples.append(sample)
    samples = ActionDataPreprocessor()(dict(
        inputs=[torch.zeros(3, 1, 8, 8)] * 2,
        data_samples=samples))['data_samples']
    assert samples[0].priors.types.tolist() == [[HAND, PAD_TYPE]]
    regions = priors_to_regions(samples[0].priors, (HAND, ), (), 4., 0.3)
    assert regions['valid'].tolist() == [[True, False]]
