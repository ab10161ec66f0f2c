# The built-in demo data (tools/data/make_demo_data.py --out data/demo,
# docs/demo_data.md): 64 px shape images (source 'demo_img', 10 classes)
# and 16-frame 64 px clips of those shapes moving (source 'demo_vid',
# 10 classes: which shape slides, rises vs falls, hand opens vs closes...),
# and the demo recipe: model parts, evaluator, schedule values. '${name}'
# stands for the variable `name` (configs/_base_/schedules/adamw_cosine.py
# says how it is resolved).
# The two parts' folders; a derived config points them at another copy
# (the co-training positive control reads data/demo_objects).
demo_img_root = 'data/demo/imagenet'
demo_vid_root = 'data/demo/kinetics'
clip_len, frame_interval = 8, 2
# The generator's exact priors (priors/<video stem>.npz, 'demo' keypoints)
# for top-down configs; without them LoadPriors gives empty priors.
prior_prefix = None
demo_img_train_pipeline = [
    dict(type='LoadImage'),
    dict(type='RandomResizedCrop', area_range=(0.5, 1.0)),
    dict(type='Resize', scale=(64, 64)),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='PackActionInputs'),
]
demo_img_val_pipeline = [
    dict(type='LoadImage'),
    dict(type='Resize', scale=(64, 64)),
    dict(type='PackActionInputs'),
]
# Horizontal flips keep every demo video label (no left/right classes).
demo_vid_train_pipeline = [
    dict(type='PyAVInit'),
    dict(
        type='SampleFrames',
        clip_len='${clip_len}',
        frame_interval='${frame_interval}'),
    dict(type='PyAVDecode'),
    # After decoding, so crops, resizes and flips move the priors.
    dict(type='LoadPriors', keypoint_layout='demo', on_missing='raise'),
    dict(type='RandomResizedCrop', area_range=(0.5, 1.0)),
    dict(type='Resize', scale=(64, 64)),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='PackActionInputs'),
]
# Two clips per video, their scores averaged (multi-view test).
demo_vid_val_pipeline = [
    dict(type='PyAVInit'),
    dict(
        type='SampleFrames',
        clip_len='${clip_len}',
        frame_interval='${frame_interval}',
        num_clips=2,
        test_mode=True),
    dict(type='PyAVDecode'),
    dict(type='LoadPriors', keypoint_layout='demo', on_missing='raise'),
    dict(type='Resize', scale=(64, 64)),
    dict(type='PackActionInputs'),
]
# Every split reads its class list from the same file (relative to
# data_root), so labels are range-checked and ids agree across splits.
demo_img_train = dict(
    type='ImageDataset',
    source='demo_img',
    ann_file='',
    data_root='${demo_img_root}',
    data_prefix=dict(img_path='train'),
    classes='meta/classes.txt',
    pipeline=demo_img_train_pipeline)
demo_img_val = dict(
    type='ImageDataset',
    source='demo_img',
    ann_file='',
    data_root='${demo_img_root}',
    data_prefix=dict(img_path='val'),
    classes='meta/classes.txt',
    pipeline=demo_img_val_pipeline,
    test_mode=True)
demo_vid_train = dict(
    type='VideoDataset',
    source='demo_vid',
    ann_file='train_list.txt',
    data_root='${demo_vid_root}',
    data_prefix=dict(video='videos_train'),
    classes='classes.txt',
    prior_prefix='${prior_prefix}',
    pipeline=demo_vid_train_pipeline)
demo_vid_val = dict(
    type='VideoDataset',
    source='demo_vid',
    ann_file='val_list.txt',
    data_root='${demo_vid_root}',
    data_prefix=dict(video='videos_val'),
    classes='classes.txt',
    prior_prefix='${prior_prefix}',
    pipeline=demo_vid_val_pipeline,
    test_mode=True)
# The held-out test split, written at the data's 'study' scale only
# (tools/data/make_demo_data.py --scale study).
demo_vid_test = dict(
    demo_vid_val,
    ann_file='test_list.txt',
    data_prefix=dict(video='videos_test'))

# Shared by the demo and its single-source twins.
demo_backbone = dict(type='MViT', arch='xs', drop_path_rate=0.1)
demo_img_head = dict(type='ClsHead', num_classes=10, in_channels=64)
demo_vid_head = dict(type='ClsHead', num_classes=10, in_channels=64)
val_evaluator = dict(type='AccMetric', topk=(1, 5))
test_evaluator = val_evaluator
# Schedule values (configs/_base_/schedules/adamw_cosine.py): 300 steps,
# the single-source demos' (mvit_xs_demo.py sets its own length).
lr, min_lr = 2e-3, 2e-5
warmup_iters, warmup_ratio = 15, 1e-2
max_iters, val_interval = 300, 100
layer_decay_rate = 1.0
# Training samples, per-class accuracy and confusion matrices in
# TensorBoard (docs/visualization.md).
custom_hooks = [dict(type='VisualizationHook')]
