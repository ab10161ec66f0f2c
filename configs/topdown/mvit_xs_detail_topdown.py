# The positive control of top-down modulation (docs/topdown.md, "Positive
# control"): mvit_xs_detail_plain.py (same data, model and schedule) plus
# the TopDownModulation neck reading the first-stage tokens in the marked
# carrier's box and around its glyph keypoints. Variants:
#   task loss only:      --cfg-options model.neck.loss_attn=None model.neck.structure_head=None
#   attention target:    --cfg-options model.neck.structure_head=None
#   structure head:      --cfg-options model.neck.loss_attn=None
_base_ = ['./mvit_xs_detail_plain.py', '../_base_/models/topdown_mvit_xs.py']

# 'xs' on 4x32x32 clips: blocks 0-1 at 2x8x8 tokens (32 channels, 4 px
# cells), blocks 2-3 at 2x4x4 (64 channels). The demo neck
# (configs/_base_/models/topdown_mvit_xs.py) on blocks 1 and 2, where the
# object box (type 3, 3x3 to 4x4 cells a frame) and 2-pixel windows on
# the glyph's centre and line ends ('demo' keypoints 0-2) select at most
# 64 first-stage tokens. The line ends give the class away, so they must
# not reach the model's input: the object box outranks the keypoint
# windows (type_priority), all of which lie inside it, so every selected
# cell gets the object's type embedding, and the keypoints shape only the
# training targets (attention target, structure head).
model = dict(
    neck=dict(
        _base_.topdown_neck,
        max_tokens=64,
        box_types=(3, ),
        keypoint_indices=(0, 1, 2),
        keypoint_window=2.,
        type_priority=(0., 3., 2., 4., 1.),
        structure_head=dict(
            _base_.topdown_neck.structure_head,
            keypoint_indices=(0, 1, 2),
            sigma=1.)))
