# MViTv2-B trained on Kinetics-400 alone, from scratch: the video baseline
# of mvit_b_in_k400.py with the same clips, recipe and number of video steps
# (100k steps of 8 GPUs x 16 clips).
_base_ = ['../_base_/default_runtime.py', './_base_/k400.py']

train_dataloader = dict(
    batch_size=16,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    # One source; the co-training sampler keeps resumes free.
    batch_sampler=dict(type='CoTrainBatchSampler'),
    dataset=dict(type='CoTrainDataset', datasets=dict(k400=_base_.k400_train)))
val_dataloader = dict(
    batch_size=4,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CoTrainDataset', datasets=dict(k400=_base_.k400_val)))
test_dataloader = val_dataloader
val_evaluator = dict(type='AccMetric', topk=(1, 5))
test_evaluator = val_evaluator

model = dict(
    type='CoTrainRecognizer',
    backbone=dict(type='MViT', arch='base', drop_path_rate=0.3),
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
auto_scale_lr = dict(enable=False, base_batch_size=128)
