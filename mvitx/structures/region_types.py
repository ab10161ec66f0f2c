"""Type ids of prior regions, defined once for the prior store, the
transforms, the top-down neck and the drawing code."""

#: Box types stored in prior files (``box_types``), in id order.
BOX_TYPE_NAMES = ('person', 'hand', 'face', 'object')
#: Box type name to id.
BOX_TYPES = {name: i for i, name in enumerate(BOX_TYPE_NAMES)}
#: The id of an empty box slot.
PAD_TYPE = -1
#: Region types of the top-down neck: the box types, then windows around
#: keypoints.
REGION_TYPE_NAMES = BOX_TYPE_NAMES + ('keypoint', )
PERSON, HAND, FACE, OBJECT, KEYPOINT = range(len(REGION_TYPE_NAMES))
