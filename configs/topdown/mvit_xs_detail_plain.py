# The positive control of top-down modulation (docs/topdown.md, "Positive
# control"), plain backbone: 4-frame 32 px clips of the detail task
# (mvitx/datasets/demo/detail.py), whose class is the tiny glyph on the one
# carrier the priors box. Trains until the validation top-1 stops improving
# after the learning-rate decay (PlateauStoppingHook) and keeps the best
# checkpoint. The top-down twin is mvit_xs_detail_topdown.py.
_base_ = [
    '../_base_/default_runtime.py', '../cotrain/_base_/demo.py',
    '../_base_/schedules/adamw_cosine.py'
]

# No geometric or colour augmentation: crops and resizes would blur the
# 6-pixel glyphs, and flips swap the diagonal classes. Priors are loaded
# here too, so plain and top-down runs read the same samples and the
# blanking check works for both.
detail_pipeline = [
    dict(type='PyAVInit'),
    dict(type='SampleFrames', clip_len=4, frame_interval=1, test_mode=True),
    dict(type='PyAVDecode'),
    dict(type='LoadPriors', keypoint_layout='demo', on_missing='raise'),
    dict(type='PackActionInputs'),
]
# The check that the class is decided inside the boxes: test with
# --cfg-options test_dataloader.dataset.datasets.detail.pipeline.4.box_types=[3]
# (the object boxes painted black); () blanks nothing.
detail_test_pipeline = detail_pipeline[:4] + [
    dict(type='BlankRegions', box_types=()),
    dict(type='PackActionInputs'),
]
detail_train = dict(
    type='VideoDataset',
    source='detail',
    ann_file='train_list.txt',
    data_root='data/detail',
    data_prefix=dict(video='videos_train'),
    classes='classes.txt',
    prior_prefix='priors',
    pipeline=detail_pipeline)
detail_val = dict(
    detail_train,
    ann_file='val_list.txt',
    data_prefix=dict(video='videos_val'),
    test_mode=True)
detail_test = dict(
    detail_train,
    ann_file='test_list.txt',
    data_prefix=dict(video='videos_test'),
    pipeline=detail_test_pipeline,
    test_mode=True)

train_dataloader = dict(
    batch_size=32,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='CoTrainBatchSampler'),
    dataset=dict(type='CoTrainDataset', datasets=dict(detail=detail_train)))
val_dataloader = dict(
    batch_size=50,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CoTrainDataset', datasets=dict(detail=detail_val)))
test_dataloader = dict(
    val_dataloader,
    dataset=dict(type='CoTrainDataset', datasets=dict(detail=detail_test)))

model = dict(
    type='CoTrainRecognizer',
    backbone=_base_.demo_backbone,
    heads=dict(detail=dict(type='ClsHead', num_classes=4, in_channels=64)),
    data_preprocessor=dict(type='ActionDataPreprocessor'))

# Validation every 50 iterations (200 clips). The cosine schedule decays to
# min_lr over decay_iters; training then goes on at min_lr until 12
# validations in a row have not gained 0.5 top-1 points over the best, at
# the latest at max_iters. None before decay_iters counts: a patience
# counted from the first validation must outlast the plateau at chance
# every model starts on (up to about 600 iterations; docs/topdown.md). A
# checkpoint every 500 iterations for resuming, and the best one.
lr, min_lr = 2e-3, 2e-5
warmup_iters, warmup_ratio = 50, 1e-2
max_iters, decay_iters, val_interval = 6000, 1000, 50
layer_decay_rate = 1.0
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=500, max_keep_ckpts=1, save_best='mean/top1'))
custom_hooks = [
    dict(
        type='PlateauStoppingHook',
        monitor='mean/top1',
        min_delta=0.5,
        patience=12,
        begin='${decay_iters}')
]
