# Scale-up (milestone (a)3): MViTv2-L co-trained on ImageNet-21K and
# Kinetics-700 on 8 GPUs. ImageNet-21K (~13M images, fall11 release,
# 21843 classes) in the folder layout under data/imagenet21k/{train,val};
# Kinetics-700 CSVs and clips under data/kinetics700 like Kinetics-400.
# Two video steps per image step: the videos are ~25x fewer than the images
# and are the target task.
_base_ = [
    '../_base_/default_runtime.py', './_base_/in1k.py', './_base_/k400.py',
    '../_base_/schedules/adamw_cosine.py'
]

in21k_train = dict(
    _base_.in1k_train,
    source='in21k',
    data_root='data/imagenet21k',
    num_classes=21843)
in21k_val = dict(
    _base_.in1k_val,
    source='in21k',
    data_root='data/imagenet21k',
    num_classes=21843)
k700_train = dict(
    _base_.k400_train, source='k700', data_root='data/kinetics700')
k700_val = dict(_base_.k400_val, source='k700', data_root='data/kinetics700')

train_dataloader = dict(
    batch_size=8,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(
        type='CoTrainBatchSampler',
        strategy='alternating',
        batch_sizes=dict(in21k=64, k700=8),
        ratios=dict(in21k=1, k700=2)),
    dataset=dict(
        type='CoTrainDataset',
        datasets=dict(in21k=in21k_train, k700=k700_train)))
val_dataloader = dict(
    batch_size=2,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CoTrainDataset', datasets=dict(in21k=in21k_val, k700=k700_val)))
test_dataloader = val_dataloader
val_evaluator = dict(type='AccMetric', topk=(1, 5))
test_evaluator = val_evaluator

model = dict(
    type='CoTrainRecognizer',
    # Activation checkpointing: the blocks' activations are recomputed in
    # the backward pass instead of kept, so MViTv2-L clips fit in memory.
    backbone=dict(type='MViT', arch='large', drop_path_rate=0.5, with_cp=True),
    heads=dict(
        in21k=dict(type='ClsHead', num_classes=21843, in_channels=1152),
        k700=dict(
            type='ClsHead',
            num_classes=700,
            in_channels=1152,
            dropout_ratio=0.5)),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        source_cfgs=dict(
            in21k=dict(_base_.in1k_batch_augments, num_classes=21843),
            k700=dict(_base_.k400_batch_augments, num_classes=700))))
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)

# Schedule values (configs/_base_/schedules/adamw_cosine.py), bf16.
optim_wrapper = dict(type='BF16OptimWrapper')
lr, min_lr = 8e-4, 8e-6
max_iters, warmup_iters, warmup_ratio = 300000, 15000, 1e-3
val_interval, layer_decay_rate = 20000, 1.0
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval=10000, save_best='mean/top1'))
auto_scale_lr = dict(enable=False, base_batch_size=64)
