# The demo's video-only baseline: demo_vid alone, for as many steps (300) and
# with the same model, batch size and schedule as it gets in the
# co-training demo mvit_xs_demo.py.
_base_ = ['../_base_/default_runtime.py', './_base_/demo.py']

train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='CoTrainBatchSampler'),
    dataset=dict(
        type='CoTrainDataset', datasets=dict(demo_vid=_base_.demo_vid_train)))
val_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CoTrainDataset', datasets=dict(demo_vid=_base_.demo_vid_val)))
test_dataloader = val_dataloader

model = dict(
    type='CoTrainRecognizer',
    backbone=_base_.demo_backbone,
    heads=dict(demo_vid=_base_.demo_vid_head),
    data_preprocessor=dict(type='ActionDataPreprocessor'))

max_iters = 300
warmup_iters = 15
train_cfg = dict(type='CoTrainLoop', max_iters=max_iters, val_interval=100)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-2,
        by_epoch=False,
        begin=0,
        end=warmup_iters),
    dict(
        type='CosineAnnealingLR',
        T_max=max_iters - warmup_iters,
        eta_min=2e-5,
        by_epoch=False,
        begin=warmup_iters,
        end=max_iters)
]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_iters, save_best='mean/top1', rule='greater'))
