# MViTv2-S on Kinetics-400 with top-down modulation: blocks 5, 9 and 13 of
# stage 3 (8x14x14 tokens at 16x224^2) attend to up to 256 of the 8x56x56
# unpooled first-stage tokens inside hand, face and object boxes and around
# wrists and fingertips, with attention supervision. Priors come from
# tools/data/extract_priors.py (COCO-WholeBody keypoints) under
# data/kinetics400/priors/<video stem>.npz (docs/priors.md). Recipe, data
# and schedule of the MViTv2-B baseline configs/cotrain/mvit_b_k400.py
# (100k steps of 8 GPUs x 16 clips), so the two compare.
_base_ = ['../cotrain/mvit_b_k400.py', '../_base_/models/topdown_mvit_s.py']

prior_prefix = 'priors'
# ThreeCrop cannot carry boxes: 5 clips x 1 centre crop.
k400_val_pipeline = [
    dict(type='PyAVInit'),
    dict(
        type='SampleFrames',
        clip_len='${clip_len}',
        frame_interval='${frame_interval}',
        num_clips=5,
        test_mode=True),
    dict(type='PyAVDecode'),
    dict(
        type='LoadPriors',
        keypoint_layout='coco_wholebody',
        on_missing='raise'),
    dict(type='Resize', scale=(-1, 224), keep_ratio=True),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackActionInputs'),
]
val_dataloader = dict(
    dataset=dict(datasets=dict(k400=dict(pipeline=k400_val_pipeline))))
test_dataloader = val_dataloader

# COCO-WholeBody: 9/10 wrists, 95/116 thumb tips, 99/120 index fingertips
# (left/right hand), 0 nose.
model = dict(
    backbone=dict(arch='small', drop_path_rate=0.2), neck=_base_.topdown_neck)
custom_hooks = [dict(type='TopDownAttentionHook', num_samples=4)]
