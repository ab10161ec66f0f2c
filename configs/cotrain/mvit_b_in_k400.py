# MViTv2-B co-trained on ImageNet-1K images and Kinetics-400 clips in one
# loop, on 8 GPUs: tools/dist_train.sh configs/cotrain/mvit_b_in_k400.py 8
# Each step is one source for every GPU (alternating 1:1): 128 images or
# 16 clips per GPU. 200k steps = 100k steps per source (80 ImageNet epochs,
# 53 Kinetics epochs). Baselines: mvit_b_k400.py, mvit_b_in1k.py,
# mvit_b_in1k_to_k400.py.
_base_ = [
    '../_base_/default_runtime.py', './_base_/in1k.py', './_base_/k400.py',
    '../_base_/schedules/adamw_cosine.py'
]

train_dataloader = dict(
    # Per-GPU batch size of sources without an entry in `batch_sizes`; also
    # what `--auto-scale-lr` multiplies by the number of GPUs.
    batch_size=16,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(
        type='CoTrainBatchSampler',
        strategy='alternating',
        batch_sizes=dict(in1k=128, k400=16),
        ratios=dict(in1k=1, k400=1)),
    dataset=dict(
        type='CoTrainDataset',
        datasets=dict(in1k=_base_.in1k_train, k400=_base_.k400_train)))
val_dataloader = dict(
    batch_size=4,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CoTrainDataset',
        datasets=dict(in1k=_base_.in1k_val, k400=_base_.k400_val)))
test_dataloader = val_dataloader
# `in1k/top1`, `k400/top1` (5 clips x 3 crops), ... and `mean/top1`.
val_evaluator = dict(type='AccMetric', topk=(1, 5))
test_evaluator = val_evaluator

model = dict(
    type='CoTrainRecognizer',
    backbone=dict(type='MViT', arch='base', drop_path_rate=0.3),
    heads=dict(
        in1k=dict(type='ClsHead', num_classes=1000, in_channels=768),
        k400=dict(
            type='ClsHead',
            num_classes=400,
            in_channels=768,
            dropout_ratio=0.5)),
    loss_weights=dict(in1k=1.0, k400=1.0),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        source_cfgs=dict(
            in1k=_base_.in1k_batch_augments, k400=_base_.k400_batch_augments)))
# An alternating step uses one head; DDP must not wait for the other's
# gradients.
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)

# Schedule values (configs/_base_/schedules/adamw_cosine.py), bf16.
optim_wrapper = dict(type='BF16OptimWrapper')
lr, min_lr = 1.6e-3, 1.6e-5
max_iters, warmup_iters, warmup_ratio = 200000, 10000, 1e-3
val_interval, layer_decay_rate = 10000, 1.0
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval='${val_interval}', save_best='mean/top1'))
# The lr above is for 8 GPUs x 16 clips.
auto_scale_lr = dict(enable=False, base_batch_size=128)
