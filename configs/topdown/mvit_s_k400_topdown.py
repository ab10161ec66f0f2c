# MViTv2-S on Kinetics-400 with top-down modulation: blocks 5, 9 and 13 of
# stage 3 (8x14x14 tokens at 16x224^2) attend to up to 256 of the 8x56x56
# unpooled first-stage tokens inside hand, face and object boxes and around
# wrists and fingertips, with attention supervision. Priors come from
# tools/data/extract_priors.py (COCO-WholeBody keypoints) under
# data/kinetics400/priors/<video stem>.npz (docs/priors.md).
_base_ = ['../_base_/default_runtime.py', '../cotrain/_base_/k400.py']

k400_train_pipeline = [
    dict(type='PyAVInit'),
    dict(type='SampleFrames', clip_len=16, frame_interval=4),
    dict(type='PyAVDecode'),
    dict(
        type='LoadPriors',
        keypoint_layout='coco_wholebody',
        on_missing='raise'),
    dict(type='RandomResizedCrop'),
    dict(type='Resize', scale=(224, 224)),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='RandAugment', num_ops=4, magnitude=7, magnitude_std=0.5),
    dict(type='RandomErasing', erase_prob=0.25),
    dict(type='PackActionInputs'),
]
# ThreeCrop cannot carry boxes: 5 clips x 1 centre crop.
k400_val_pipeline = [
    dict(type='PyAVInit'),
    dict(
        type='SampleFrames',
        clip_len=16,
        frame_interval=4,
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
k400_train = dict(
    _base_.k400_train, prior_prefix='priors', pipeline=k400_train_pipeline)
k400_val = dict(
    _base_.k400_val, prior_prefix='priors', pipeline=k400_val_pipeline)

train_dataloader = dict(
    batch_size=16,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='CoTrainBatchSampler'),
    dataset=dict(type='CoTrainDataset', datasets=dict(k400=k400_train)))
val_dataloader = dict(
    batch_size=4,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CoTrainDataset', datasets=dict(k400=k400_val)))
test_dataloader = val_dataloader
val_evaluator = dict(type='AccMetric', topk=(1, 5))
test_evaluator = val_evaluator

# COCO-WholeBody: 9/10 wrists, 95/116 thumb tips, 99/120 index fingertips
# (left/right hand), 0 nose.
model = dict(
    type='CoTrainRecognizer',
    backbone=dict(type='MViT', arch='small', drop_path_rate=0.2),
    neck=dict(
        type='TopDownModulation',
        stage0_channels=96,
        block_indices=(5, 9, 13),
        block_channels=(384, 384, 384),
        embed_dims=192,
        num_heads=2,
        max_tokens=256,
        query_mode='all',
        box_types=(1, 2, 3),
        keypoint_indices=(9, 10, 95, 116, 99, 120, 0),
        keypoint_window=16.,
        keypoint_score_thr=0.3,
        loss_attn=dict(type='AttentionKLLoss', loss_weight=0.1)),
    heads=dict(
        k400=dict(
            type='ClsHead',
            num_classes=400,
            in_channels=768,
            dropout_ratio=0.5)),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        source_cfgs=dict(k400=_base_.k400_batch_augments)))

optim_wrapper = dict(
    type='BF16OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1.6e-3, betas=(0.9, 0.999), weight_decay=0.05),
    clip_grad=dict(max_norm=1.0),
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=1.0))

# Recipe and schedule of the MViTv2-B baseline configs/cotrain/mvit_b_k400.py
# (100k steps of 8 GPUs x 16 clips), so the two compare.
max_iters = 100000
warmup_iters = 5000
train_cfg = dict(type='CoTrainLoop', max_iters=max_iters, val_interval=10000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        by_epoch=False,
        begin=0,
        end=warmup_iters),
    dict(
        type='CosineAnnealingLR',
        T_max=max_iters - warmup_iters,
        eta_min=1.6e-5,
        by_epoch=False,
        begin=warmup_iters,
        end=max_iters)
]
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=10000, save_best='mean/top1', rule='greater'))
custom_hooks = [dict(type='TopDownAttentionHook', num_samples=4)]
auto_scale_lr = dict(enable=False, base_batch_size=128)
