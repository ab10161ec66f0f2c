# The demo's video-only baseline: demo_vid alone, for as many steps (300) and
# with the same model, batch size and schedule as it gets in the
# co-training demo mvit_xs_demo.py.
_base_ = [
    '../_base_/default_runtime.py', './_base_/demo.py',
    '../_base_/schedules/adamw_cosine.py'
]

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

default_hooks = dict(
    checkpoint=dict(interval='${max_iters}', save_best='mean/top1'))
