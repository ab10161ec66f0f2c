# The AVA part of the demo data (tools/data/make_demo_data.py --out
# data/demo, docs/ava.md): a few "movies" of actors with multi-label
# actions in the official AVA formats, the generator's exact priors, and
# the demo's detector, evaluator and schedule values. Trains on the
# ground-truth actors, tests on the proposals scoring >= 0.6. '${name}'
# stands for the variable `name` (configs/_base_/schedules/adamw_cosine.py
# says how it is resolved).
data_root = 'data/demo/ava'
ann_dir = f'{data_root}/annotations'
num_classes = 6
clip_len, frame_interval = 8, 1
# Every frame's person, head, hand and object boxes (priors/{video_id}.npz)
# for top-down configs; without them LoadPriors gives empty priors.
prior_prefix = None
meta_keys = ('video_id', 'timestamp', 'img_shape', 'ori_shape', 'frame_inds',
             'flip', 'flip_direction')

# Decoding, then the priors of the clip's actors (their hands, heads and
# held objects; bystanders' are dropped).
load_pipeline = [
    dict(
        type='LoadAVAClip',
        clip_len='${clip_len}',
        frame_interval='${frame_interval}'),
    dict(type='LoadPriors', keypoint_layout='coco', on_missing='raise'),
    dict(type='SelectActorPriors'),
]
train_pipeline = [
    *load_pipeline,
    dict(type='Resize', scale=(96, 64)),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='PackActionInputs', meta_keys=meta_keys),
]
test_pipeline = [
    *load_pipeline,
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
    timestamp_start=0,
    prior_prefix='${prior_prefix}')
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

# Schedule values (configs/_base_/schedules/adamw_cosine.py).
lr, min_lr = 1e-3, 1e-5
max_iters, warmup_iters, warmup_ratio = 300, 15, 1e-2
val_interval, layer_decay_rate = 100, 1.0
