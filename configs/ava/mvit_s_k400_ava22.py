# MViTv2-S 16x4 fine-tuned on AVA v2.2 from a Kinetics-400 (or IN-1K +
# K400 co-trained) checkpoint (`pretrained`): 8 GPUs x 8 clips, 33k steps.
# Data, detector and schedule values: configs/ava/_base_/ava22.py.
_base_ = [
    '../_base_/default_runtime.py', './_base_/ava22.py',
    '../_base_/schedules/adamw_cosine.py'
]

optim_wrapper = dict(type='BF16OptimWrapper')
train_cfg = dict(type='IterBasedTrainLoop')
default_hooks = dict(
    checkpoint=dict(interval='${val_interval}', save_best='ava/mAP'))
