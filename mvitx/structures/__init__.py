from .action_data_sample import ActionDataSample
from .region_types import (BOX_TYPE_NAMES, BOX_TYPES, FACE, HAND, KEYPOINT,
                           OBJECT, PAD_TYPE, PERSON, REGION_TYPE_NAMES)

__all__ = [
    'ActionDataSample', 'BOX_TYPE_NAMES', 'BOX_TYPES', 'PAD_TYPE',
    'REGION_TYPE_NAMES', 'PERSON', 'HAND', 'FACE', 'OBJECT', 'KEYPOINT'
]
