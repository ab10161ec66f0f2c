# AVA-format demo: the tiny MViT ('xs', from scratch) detects the actions of
# the actors of the demo data (its ava/ part) on CPU in minutes. Trains on
# the ground-truth actors, tests on the proposals scoring >= 0.6, evaluates
# frame mAP@0.5 (official protocol) with long-tail buckets. Run:
#   python tools/data/make_demo_data.py --out data/demo
#   bash tools/dist_train.sh configs/ava/mvit_xs_demo_ava.py 2
_base_ = ['../_base_/default_runtime.py']

data_root = 'data/demo/ava'
ann_dir = f'{data_root}/annotations'
work_dir = 'work_dirs/mvit_xs_demo_ava'
num_classes = 6
meta_keys = ('video_id', 'timestamp', 'img_shape', 'ori_shape', 'frame_inds',
             'flip', 'flip_direction')

train_pipeline = [
    dict(type='LoadAVAClip', clip_len=8, frame_interval=1),
    dict(type='Resize', scale=(96, 64)),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='PackActionInputs', meta_keys=meta_keys),
]
test_pipeline = [
    dict(type='LoadAVAClip', clip_len=8, frame_interval=1),
    dict(type='Resize', scale=(96, 64)),
    dict(type='PackActionInputs', meta_keys=meta_keys),
]
dataset_common = dict(
    type='AVADataset',
    data_root=data_root,
    data_prefix=dict(img='frames'),
    label_file='annotations/ava_action_list_demo.pbtxt',
    num_classes=num_classes,
    fps=10,
    timestamp_start=0)
train_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        **dataset_common,
        ann_file='annotations/ava_train_demo.csv',
        proposal_file='annotations/ava_dense_proposals_train_demo.pkl',
        train_with_proposals=True,
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        **dataset_common,
        ann_file='annotations/ava_val_demo.csv',
        exclude_file='annotations/ava_val_excluded_timestamps_demo.csv',
        proposal_file='annotations/ava_dense_proposals_val_demo.pkl',
        # Actor proposals score 0.8-1, false ones at most 0.5.
        det_score_thr=0.6,
        test_mode=True,
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    type='AVAMetric',
    ann_file=f'{ann_dir}/ava_val_demo.csv',
    label_file=f'{ann_dir}/ava_action_list_demo.pbtxt',
    exclude_file=f'{ann_dir}/ava_val_excluded_timestamps_demo.csv',
    train_ann_file=f'{ann_dir}/ava_train_demo.csv',
    # Training rows: stand 59, walk 53 (head), wave 45, hold 31 (middle),
    # phone 8 (tail).
    long_tail_thresholds=(20, 50),
    # in the work dir of the run (tools/train.py and tools/test.py)
    out_file='ava_detections.csv')
test_evaluator = val_evaluator

model = dict(
    type='AVADetector',
    backbone=dict(type='MViT', arch='xs'),
    roi_head=dict(
        type='AVARoIHead',
        num_classes=num_classes,
        in_channels=64,
        dropout_ratio=0.2),
    data_preprocessor=dict(type='ActionDataPreprocessor'))

max_iters = 300
warmup_iters = 15
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=100)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
    clip_grad=dict(max_norm=1.0))
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
        eta_min=1e-5,
        by_epoch=False,
        begin=warmup_iters,
        end=max_iters)
]
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=max_iters, save_best='ava/mAP', rule='greater'))
