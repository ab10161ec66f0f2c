# The fine-detail study on the demo videos (docs/topdown.md, "Demo study to
# convergence"), plain backbone: the model, pipelines and learning rates of
# the video baseline configs/cotrain/mvit_xs_demo_video.py on the 'study'
# scale of the demo data (tools/data/make_demo_data.py --scale study --out
# data/demo_study: 100 training, 20 validation and 50 test videos per
# class), trained until the validation top-1 stops improving (below) and
# tested on the held-out test split. The top-down twin is
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

# Validation every 100 iterations (1,600 clips, 1.6 epochs). The cosine
# schedule decays to min_lr over decay_iters; training then goes on at
# min_lr until 5 validations in a row have not gained 0.5 top-1 points over
# the best (none before decay_iters counts: early stopping cut runs on a
# plateau of the high-learning-rate phase, docs/topdown.md), at the latest
# at max_iters. A checkpoint every 500 iterations for resuming.
max_iters, decay_iters, val_interval = 6000, 2400, 100
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=500, max_keep_ckpts=1, save_best='mean/top1'))
custom_hooks = [
    dict(
        type='PlateauStoppingHook',
        monitor='mean/top1',
        min_delta=0.5,
        patience=5,
        begin='${decay_iters}')
]
