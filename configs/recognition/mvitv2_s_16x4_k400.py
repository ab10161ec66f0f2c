# MViTv2-S 16x4 on Kinetics-400 with the weights of torchvision's
# `mvit_v2_s` (ported from PySlowFast; 80.8 top-1 at 5 clips x 3 crops per
# torchvision). Convert them once:
#   python tools/convert/convert_mvit.py --src torchvision \
#       mvit_v2_s-ae3be167.pth work_dirs/mvitv2_s_16x4_k400_tv.pth
# then evaluate with tools/test.py (5 clips x 3 crops) or fine-tune. With the
# converted weights the recognizer gives torchvision's logits on the same
# normalised clip, at 16x224x224 and at other sizes.
_base_ = [
    '../_base_/default_runtime.py', '../cotrain/_base_/k400.py',
    '../_base_/schedules/adamw_cosine.py'
]

load_from = 'work_dirs/mvitv2_s_16x4_k400_tv.pth'

model = dict(
    type='CoTrainRecognizer',
    backbone=dict(type='MViT', arch='small', drop_path_rate=0.2),
    heads=dict(
        k400=dict(
            type='ClsHead',
            num_classes=400,
            in_channels=768,
            dropout_ratio=0.5,
            average_clips='prob')),
    # torchvision's Kinetics normalisation: mean 0.45, std 0.225 (x 255)
    data_preprocessor=dict(
        type='ActionDataPreprocessor',
        mean=(114.75, 114.75, 114.75),
        std=(57.375, 57.375, 57.375),
        source_cfgs=dict(k400=_base_.k400_batch_augments)))

train_dataloader = dict(
    batch_size=8,
    num_workers=8,
    persistent_workers=True,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(type='CoTrainBatchSampler'),
    dataset=dict(type='CoTrainDataset', datasets=dict(k400=_base_.k400_train)))
val_dataloader = dict(
    batch_size=2,
    num_workers=8,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='CoTrainDataset', datasets=dict(k400=_base_.k400_val)))
test_dataloader = val_dataloader
val_evaluator = dict(type='AccMetric', topk=(1, 5))
test_evaluator = val_evaluator

# Fine-tuning from the converted weights: small lr, layer-wise decay.
optim_wrapper = dict(type='BF16OptimWrapper')
lr, min_lr = 1e-4, 1e-6
max_iters, warmup_iters, warmup_ratio = 20000, 1000, 1e-3
val_interval, layer_decay_rate = 5000, 0.75
default_hooks = dict(
    logger=dict(interval=50),
    checkpoint=dict(interval='${val_interval}', save_best='mean/top1'))
auto_scale_lr = dict(enable=False, base_batch_size=64)
