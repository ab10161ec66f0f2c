# The fine-detail study on the demo videos (docs/topdown.md, "Demo study to
# convergence"), top-down: mvit_xs_demo_study_plain.py (same data, model
# and schedule) plus the generator's exact priors and the demo's
# TopDownModulation neck (hand and object boxes, hand-keypoint windows,
# attention target and structure head). Variants:
#   task loss only:      --cfg-options model.neck.loss_attn=None model.neck.structure_head=None
_base_ = [
    './mvit_xs_demo_study_plain.py', '../_base_/models/topdown_mvit_xs.py'
]

prior_prefix = 'priors'
model = dict(neck=_base_.topdown_neck)
