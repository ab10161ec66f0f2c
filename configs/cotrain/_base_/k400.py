# Kinetics-400 as the official CSVs and clips named
# {youtube_id}_{start:06d}_{end:06d}.mp4: data/kinetics400/{train,val}.csv,
# data/kinetics400/videos_{train,val}/. Clips of source 'k400': `clip_len`
# frames every `frame_interval`, 224 px; test: 5 clips x 3 crops averaged per
# video (MViTv2). '${name}' stands for the variable `name`
# (configs/_base_/schedules/adamw_cosine.py says how it is resolved).
k400_root = 'data/kinetics400'
clip_len, frame_interval = 16, 4
# Per-video prior files (tools/data/extract_priors.py, COCO-WholeBody
# keypoints) under data_root/prior_prefix/<video stem>.npz, for top-down
# configs (docs/priors.md); without them LoadPriors gives empty priors.
prior_prefix = None
k400_train_pipeline = [
    dict(type='PyAVInit'),
    dict(
        type='SampleFrames',
        clip_len='${clip_len}',
        frame_interval='${frame_interval}'),
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
# ThreeCrop refuses prior keys, even LoadPriors' empty ones, so this
# pipeline has no LoadPriors; a top-down config tests on centre crops
# (configs/topdown/mvit_s_k400_topdown.py).
k400_val_pipeline = [
    dict(type='PyAVInit'),
    dict(
        type='SampleFrames',
        clip_len='${clip_len}',
        frame_interval='${frame_interval}',
        num_clips=5,
        test_mode=True),
    dict(type='PyAVDecode'),
    dict(type='Resize', scale=(-1, 224), keep_ratio=True),
    dict(type='ThreeCrop', crop_size=224),
    dict(type='PackActionInputs'),
]
# The class list of every split: the sorted label names of train.csv
# (relative to data_root), so a class missing from a split shifts no ids.
k400_train = dict(
    type='VideoDataset',
    source='k400',
    ann_file='train.csv',
    data_root=k400_root,
    data_prefix=dict(video='videos_train'),
    classes='train.csv',
    prior_prefix='${prior_prefix}',
    pipeline=k400_train_pipeline)
k400_val = dict(
    type='VideoDataset',
    source='k400',
    ann_file='val.csv',
    data_root=k400_root,
    data_prefix=dict(video='videos_val'),
    classes='train.csv',
    prior_prefix='${prior_prefix}',
    pipeline=k400_val_pipeline,
    test_mode=True)
k400_batch_augments = dict(
    num_classes=400, mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.1)
