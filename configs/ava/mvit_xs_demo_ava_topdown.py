# The AVA demo with top-down modulation, second link of the demo chain
# configs/topdown/mvit_xs_demo_topdown.py -> this config: mvit_xs_demo_ava.py
# (same data, schedule) plus the generator's priors (every frame's person,
# head, hand and object boxes, priors/{video_id}.npz) and the top-down demo
# model's TopDownModulation neck, backbone and neck initialised from its
# checkpoint (`pretrained`; train that config first). The base's pipelines
# load the priors and SelectActorPriors keeps those of the clip's actors
# (their hands, heads and held objects; bystanders' are dropped); the RoI
# head then classifies each actor. A fresh neck on the transferred backbone:
#   --cfg-options "model.init_cfg.parts=[backbone]"
_base_ = ['./mvit_xs_demo_ava.py', '../_base_/models/topdown_mvit_xs.py']

prior_prefix = 'priors'
pretrained = 'work_dirs/mvit_xs_demo_topdown/iter_300.pth'
work_dir = 'work_dirs/mvit_xs_demo_ava_topdown'

# The neck of configs/topdown/mvit_xs_demo_topdown.py
# (configs/_base_/models/topdown_mvit_xs.py), weight for weight, so it
# transfers whole. It selects up to 128 first-stage tokens from the hand,
# head and object boxes; the AVA demo's keypoints are COCO body keypoints
# (no fingertips), so there are no keypoint windows and the demo model's
# structure head stays behind.
model = dict(
    neck=dict(
        _base_.topdown_neck,
        box_types=(1, 2, 3),
        keypoint_indices=(),
        structure_head=None),
    init_cfg=dict(
        type='PretrainedParts',
        checkpoint='${pretrained}',
        parts=('backbone', 'neck')))
