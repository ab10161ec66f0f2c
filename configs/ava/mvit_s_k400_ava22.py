# MViTv2-S 16x4 fine-tuned on AVA v2.2 from a Kinetics-400 (or IN-1K +
# K400 co-trained) checkpoint: 8 GPUs x 8 clips, 20 epochs-equivalent of
# iterations, trained on ground-truth actors plus proposals overlapping
# them (IoU >= 0.9), tested on the FAIR person proposals scoring >= 0.9.
# Data layout (docs/ava.md): frames at 30 fps extracted from the 15-minute
# segments (900-1800 s), official CSVs, the 60-class action list and the
# proposals pickles.
_base_ = ['../_base_/default_runtime.py']

data_root = 'data/ava'
ann_dir = f'{data_root}/annotations'
# A K400 or co-training checkpoint of this repository (work_dirs/...), or an
# official one (torchvision, PySlowFast, mmaction2: converted on load).
pretrained = 'checkpoints/mvit_s_k400.pth'
clip_len, frame_interval = 16, 4
meta_keys = ('video_id', 'timestamp', 'img_shape', 'ori_shape', 'frame_inds',
             'crop_bbox', 'scale_factor', 'flip', 'flip_direction')

train_pipeline = [
    dict(type='LoadAVAClip', clip_len=clip_len, frame_interval=frame_interval),
    dict(type='RandomShortSideScale', min_size=256, max_size=320),
    dict(type='RandomResizedCrop', area_range=(0.3, 1.0)),
    dict(type='Resize', scale=(224, 224)),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='PackActionInputs', meta_keys=meta_keys),
]
# Full frames at short side 224 (one clip per GPU batch: movies differ in
# aspect ratio).
test_pipeline = [
    dict(type='LoadAVAClip', clip_len=clip_len, frame_interval=frame_interval),
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
    timestamp_start=900)
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
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained, prefix='backbone.')),
    roi_head=dict(
        type='AVARoIHead',
        num_classes=80,
        in_channels=768,
        roi_size=7,
        dropout_ratio=0.5),
    data_preprocessor=dict(type='ActionDataPreprocessor'))

# ~211k training keyframes / 64 clips per step = ~3.3k steps per epoch.
max_iters = 33000
warmup_iters = 3300
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=3300)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='BF16OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=0.05),
    clip_grad=dict(max_norm=1.0),
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.875))
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
        eta_min=1e-6,
        by_epoch=False,
        begin=warmup_iters,
        end=max_iters)
]
default_hooks = dict(
    checkpoint=dict(interval=3300, save_best='ava/mAP', rule='greater'))
auto_scale_lr = dict(enable=False, base_batch_size=64)
