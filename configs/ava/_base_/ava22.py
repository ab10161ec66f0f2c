# AVA v2.2 fine-tuning shared by the configs/ava/mvit_*_k400_ava* configs:
# data, detector, evaluator and schedule values. Trained on ground-truth
# actors plus proposals overlapping them (IoU >= 0.9), tested on the FAIR
# person proposals scoring >= 0.9. Data layout (docs/ava.md): frames at
# 30 fps extracted from the 15-minute segments (900-1800 s), official CSVs,
# the 60-class action list and the proposals pickles. '${name}' stands for
# the variable `name` (configs/_base_/schedules/adamw_cosine.py says how it
# is resolved): a config sets `pretrained`, `clip_len`... once.
data_root = 'data/ava'
ann_dir = f'{data_root}/annotations'
# A K400 or co-training checkpoint of this repository (work_dirs/...), or an
# official one (torchvision, PySlowFast, mmaction2: converted on load).
pretrained = 'checkpoints/mvit_s_k400.pth'
clip_len, frame_interval = 16, 4
# Per-video prior files (tools/data/extract_priors.py, COCO-WholeBody
# keypoints) under data_root/prior_prefix/{video_id}.npz, frame indices
# counted from the first extracted frame, for top-down configs
# (docs/ava.md); without them LoadPriors gives empty priors.
prior_prefix = None
meta_keys = ('video_id', 'timestamp', 'img_shape', 'ori_shape', 'frame_inds',
             'crop_bbox', 'scale_factor', 'flip', 'flip_direction')

# Decoding, then the priors of the clip's actors (bystanders' are dropped).
load_pipeline = [
    dict(
        type='LoadAVAClip',
        clip_len='${clip_len}',
        frame_interval='${frame_interval}'),
    dict(
        type='LoadPriors',
        keypoint_layout='coco_wholebody',
        on_missing='raise'),
    dict(type='SelectActorPriors'),
]
train_pipeline = [
    *load_pipeline,
    dict(type='RandomShortSideScale', min_size=256, max_size=320),
    dict(type='RandomResizedCrop', area_range=(0.3, 1.0)),
    dict(type='Resize', scale=(224, 224)),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='PackActionInputs', meta_keys=meta_keys),
]
# Full frames at short side 224 (one clip per GPU batch: movies differ in
# aspect ratio).
test_pipeline = [
    *load_pipeline,
    dict(type='Resize', scale=(-1, 224), keep_ratio=True),
    dict(type='PackActionInputs', meta_keys=meta_keys),
]
dataset_common = dict(
    type='AVADataset',
    data_root=data_root,
    data_prefix=dict(img='rawframes'),
    label_file='annotations/ava_action_list_v2.2_for_activitynet_2019.pbtxt',
    num_classes=80,
    fps=30,
    timestamp_start=900,
    prior_prefix='${prior_prefix}')
train_dataloader = dict(
    batch_size=8,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        **dataset_common,
        ann_file='annotations/ava_train_v2.2.csv',
        exclude_file='annotations/ava_train_excluded_timestamps_v2.2.csv',
        proposal_file='annotations/ava_dense_proposals_train.FAIR.'
        'recall_93.9.pkl',
        train_with_proposals=True,
        proposal_iou_thr=0.9,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        **dataset_common,
        ann_file='annotations/ava_val_v2.2.csv',
        exclude_file='annotations/ava_val_excluded_timestamps_v2.2.csv',
        proposal_file='annotations/ava_dense_proposals_val.FAIR.'
        'recall_93.9.pkl',
        det_score_thr=0.9,
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='AVAMetric',
    ann_file=f'{ann_dir}/ava_val_v2.2.csv',
    label_file=f'{ann_dir}/ava_action_list_v2.2_for_activitynet_2019.pbtxt',
    exclude_file=f'{ann_dir}/ava_val_excluded_timestamps_v2.2.csv',
    train_ann_file=f'{ann_dir}/ava_train_v2.2.csv',
    # Head: >= 10000 training rows, tail: < 1000 (docs/ava.md).
    long_tail_thresholds=(1000, 10000),
    # in the work dir of the run (tools/train.py and tools/test.py)
    out_file='ava_detections.csv')
test_evaluator = val_evaluator

model = dict(
    type='AVADetector',
    backbone=dict(
        type='MViT',
        arch='small',
        drop_path_rate=0.2,
        with_cp=True,
        # Stride 16 in the last stage (no query pooling into it), as
        # detection recipes keep it: 14x14 RoI features at 224 px.
        stage_q_strides=((1, 1, 1), (1, 2, 2), (1, 2, 2), (1, 1, 1))),
    roi_head=dict(
        type='AVARoIHead',
        num_classes=80,
        in_channels=768,
        roi_size=7,
        dropout_ratio=0.5),
    data_preprocessor=dict(type='ActionDataPreprocessor'),
    # The backbone of `pretrained` (top-down variants: and its neck).
    init_cfg=dict(
        type='PretrainedParts',
        checkpoint='${pretrained}',
        parts=('backbone', )))

# Schedule values (configs/_base_/schedules/adamw_cosine.py): ~211k
# training keyframes / 64 clips per step = ~3.3k steps per epoch.
lr, min_lr = 1e-4, 1e-6
max_iters, warmup_iters, warmup_ratio = 33000, 3300, 1e-2
val_interval, layer_decay_rate = 3300, 0.875
auto_scale_lr = dict(enable=False, base_batch_size=64)
