# Top-down modulation on the demo videos with the generator's exact priors:
# the video baseline mvit_xs_demo_video.py (same model, data, schedule) plus
# the prior files, the TopDownModulation neck and its attention images in
# TensorBoard. Variants of the demo study (docs/topdown.md):
#   implicit:       --cfg-options model.neck.loss_attn=None model.neck.structure_head=None
#   attention only: --cfg-options model.neck.structure_head=None
#   structure only: --cfg-options model.neck.loss_attn=None
#   degraded:       --cfg-options model.neck.prior_jitter=0.5 model.neck.prior_drop=0.5
#   plain:          configs/cotrain/mvit_xs_demo_video.py
_base_ = [
    '../cotrain/mvit_xs_demo_video.py', '../_base_/models/topdown_mvit_xs.py'
]

# The base's video pipelines already run LoadPriors (after decoding, so
# crops, resizes and flips move the priors); this gives them the files.
prior_prefix = 'priors'

# The neck: configs/_base_/models/topdown_mvit_xs.py (4x16x16 first-stage
# tokens at 8x64x64, 1024 in all).
model = dict(neck=_base_.topdown_neck)

custom_hooks = [dict(type='TopDownAttentionHook', num_samples=4)]
