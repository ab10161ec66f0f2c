# Top-down modulation on the demo videos with the generator's exact priors:
# the video baseline mvit_xs_demo_video.py (same model, data, schedule) plus
# prior loading, the TopDownModulation neck and its attention images in
# TensorBoard. Variants of the demo study (docs/topdown.md):
#   implicit:       --cfg-options model.neck.loss_attn=None model.neck.structure_head=None
#   attention only: --cfg-options model.neck.structure_head=None
#   structure only: --cfg-options model.neck.loss_attn=None
#   degraded:       --cfg-options model.neck.prior_jitter=0.5 model.neck.prior_drop=0.5
#   plain:          configs/cotrain/mvit_xs_demo_video.py
_base_ = ['../cotrain/mvit_xs_demo_video.py']

# Priors are loaded after decoding, so crops, resizes and flips move them.
demo_vid_train_pipeline = [
    dict(type='PyAVInit'),
    dict(type='SampleFrames', clip_len=8, frame_interval=2),
    dict(type='PyAVDecode'),
    dict(type='LoadPriors', keypoint_layout='demo', on_missing='raise'),
    dict(type='RandomResizedCrop', area_range=(0.5, 1.0)),
    dict(type='Resize', scale=(64, 64)),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='PackActionInputs'),
]
demo_vid_val_pipeline = [
    dict(type='PyAVInit'),
    dict(
        type='SampleFrames',
        clip_len=8,
        frame_interval=2,
        num_clips=2,
        test_mode=True),
    dict(type='PyAVDecode'),
    dict(type='LoadPriors', keypoint_layout='demo', on_missing='raise'),
    dict(type='Resize', scale=(64, 64)),
    dict(type='PackActionInputs'),
]
train_dataloader = dict(
    dataset=dict(
        datasets=dict(
            demo_vid=dict(
                prior_prefix='priors', pipeline=demo_vid_train_pipeline))))
val_dataloader = dict(
    dataset=dict(
        datasets=dict(
            demo_vid=dict(
                prior_prefix='priors', pipeline=demo_vid_val_pipeline))))
test_dataloader = val_dataloader

# 'xs': blocks 0-1 at 4x16x16 tokens (32 channels), blocks 2-3 at 4x8x8
# (64 channels). Blocks 1 and 2 are modulated (after block 3, the last, a
# modulation would not reach the class token the head reads). Hand boxes,
# object boxes and windows on the hand centre and fingertips ('demo'
# keypoints 1-5) select up to 128 of the 1024 first-stage tokens; hands and
# fingertips first. The attention is supervised towards a heatmap of these
# regions; the structure head learns the heatmaps of the hand centre and
# fingertips from the selected first-stage tokens.
model = dict(
    neck=dict(
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
            loss_weight=0.1)))

custom_hooks = [dict(type='TopDownAttentionHook', num_samples=4)]
