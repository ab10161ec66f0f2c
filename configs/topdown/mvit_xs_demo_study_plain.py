# The fine-detail study on the demo videos (docs/topdown.md, "Demo study to
# convergence"), plain backbone: the model, pipelines and learning rates of
# the video baseline configs/cotrain/mvit_xs_demo_video.py on the 'study'
# scale of the demo data (tools/data/make_demo_data.py --scale study --out
# data/demo_study: 100 training, 20 validation and 50 test videos per
# class), trained until the validation top-1 stops improving and tested on
# the held-out test split. The top-down twin is
# mvit_xs_demo_study_topdown.py.
_base_ = [
    '../_base_/default_runtime.py', '../cotrain/_base_/demo.py',
    '../_base_/schedules/adamw_cosine.py'
]

demo_vid_root = 'data/demo_study/kinetics'

train_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='CoTrainBatchSampler'),
    dataset=dict(
        type='CoTrainDataset', datasets=dict(demo_vid=_base_.demo_vid_train)))
val_dataloader = dict(
    batch_size=50,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CoTrainDataset', datasets=dict(demo_vid=_base_.demo_vid_val)))
test_dataloader = dict(
    val_dataloader,
    dataset=dict(
        type='CoTrainDataset', datasets=dict(demo_vid=_base_.demo_vid_test)))

model = dict(
    type='CoTrainRecognizer',
    backbone=_base_.demo_backbone,
    heads=dict(demo_vid=_base_.demo_vid_head),
    data_preprocessor=dict(type='ActionDataPreprocessor'))

# Validation every 100 iterations (1,600 clips, 1.6 epochs); training stops
# after `patience` validations without a gain of `min_delta` top-1 points,
# at the latest at max_iters (where the cosine schedule reaches min_lr).
max_iters, val_interval = 1200, 100
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval='${max_iters}', save_best='mean/top1'))
custom_hooks = [
    dict(
        type='EarlyStoppingHook',
        monitor='mean/top1',
        rule='greater',
        min_delta=0.5,
        patience=5)
]
