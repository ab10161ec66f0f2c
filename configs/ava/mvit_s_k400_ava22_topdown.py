# mvit_s_k400_ava22.py with top-down modulation: priors extracted with
# tools/data/extract_priors.py (person/hand/face/object boxes, COCO-WholeBody
# keypoints) under data/ava/priors/{video_id}.npz (docs/ava.md); the base's
# pipelines load them and keep those of the clip's actors. Backbone and neck
# come whole from the Kinetics top-down model
# (configs/topdown/mvit_s_k400_topdown.py, same neck:
# configs/_base_/models/topdown_mvit_s.py); with an official backbone
# checkpoint as `pretrained` the neck starts fresh (named at WARNING).
_base_ = ['./mvit_s_k400_ava22.py', '../_base_/models/topdown_mvit_s.py']

prior_prefix = 'priors'
pretrained = 'checkpoints/mvit_s_k400_topdown.pth'
model = dict(
    neck=_base_.topdown_neck, init_cfg=dict(parts=('backbone', 'neck')))
