# The top-down neck of the demo's 'xs' MViT, one definition for the demo
# Kinetics config (configs/topdown/mvit_xs_demo_topdown.py), the AVA demo
# that initialises from it (configs/ava/mvit_xs_demo_ava_topdown.py) and the
# positive control (configs/topdown/mvit_xs_detail_topdown.py), which change
# only what their priors select. 'xs': blocks 0-1 at stride 4 (32
# channels), blocks 2-3 at stride 8 (64 channels). Blocks 1 and 2 are
# modulated (after block 3, the last, a modulation would not reach the
# class token the head reads). Hand boxes, object boxes and windows on the
# hand centre and fingertips ('demo' keypoints 1-5) select up to 128
# first-stage tokens; hands and fingertips first. The attention is
# supervised towards a heatmap of these regions; the structure head learns
# the heatmaps of the hand centre and fingertips from the selected
# first-stage tokens.
topdown_neck = dict(
    type='TopDownModulation',
    stage0_channels=32,
    block_indices=(1, 2),
    block_channels=(32, 64),
    embed_dims=32,
    num_heads=2,
    max_tokens=128,
    query_mode='all',
    box_types=(1, 3),
    keypoint_indices=(1, 2, 3, 4, 5),
    keypoint_window=4.,
    loss_attn=dict(type='AttentionKLLoss', loss_weight=0.1),
    structure_head=dict(
        type='PriorStructureHead',
        keypoint_indices=(1, 2, 3, 4, 5),
        hidden_channels=64,
        sigma=2.,
        loss_weight=0.1))
