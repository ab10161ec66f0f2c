# MViTv2-B trained on ImageNet-1K alone: the image baseline of
# mvit_b_in_k400.py (same images, recipe and 100k image steps of 8 GPUs x
# 128 images), and the pre-training of mvit_b_in1k_to_k400.py.
_base_ = [
    '../_base_/default_runtime.py', './_base_/in1k.py',
    '../_base_/schedules/adamw_cosine.py'
]

train_dataloader = dict(
    batch_size=128,
    num_workers=10,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='CoTrainBatchSampler'),
    dataset=dict(type='CoTrainDataset', datasets=dict(in1k=_base_.in1k_train)))
val_dataloader = dict(
    batch_size=64,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CoTrainDataset', datasets=dict(in1k=_base_.in1k_val)))
test_dataloader = val_dataloader
val_evaluator = dict(type='AccMetric', topk=(1, 5))
test_evaluator = val_evaluator

model = dict(
    type='CoTrainRecognizer',
    backbone=dict(type='MViT', arch='base', drop_path_rate=0.3),
    heads=dict(in1k=dict(type='ClsHead', num_classes=1000, in_channels=768)),
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        source_cfgs=dict(in1k=_base_.in1k_batch_augments)))

# Schedule values (configs/_base_/schedules/adamw_cosine.py), bf16.
optim_wrapper = dict(type='BF16OptimWrapper')
lr, min_lr = 1.6e-3, 1.6e-5
max_iters, warmup_iters, warmup_ratio = 100000, 5000, 1e-3
val_interval, layer_decay_rate = 10000, 1.0
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval='${val_interval}', save_best='mean/top1'))
# The lr above is for 8 GPUs x 128 images.
auto_scale_lr = dict(enable=False, base_batch_size=1024)
