# ImageNet-1K in the folder layout: data/imagenet/{train,val}/<wnid>/*.JPEG.
# Images are one-frame clips (T=1) of source 'in1k'; training follows the
# DeiT/MViTv2 recipe (Inception crop, flip, RandAugment m9-mstd0.5,
# random erasing; Mixup/CutMix run in the data preprocessor).
in1k_root = 'data/imagenet'
in1k_train_pipeline = [
    dict(type='LoadImage'),
    dict(type='RandomResizedCrop'),
    dict(type='Resize', scale=(224, 224), interpolation='bicubic'),
    dict(type='Flip', flip_ratio=0.5),
    dict(type='RandAugment', num_ops=2, magnitude=9, magnitude_std=0.5),
    dict(type='RandomErasing', erase_prob=0.25),
    dict(type='PackActionInputs'),
]
in1k_val_pipeline = [
    dict(type='LoadImage'),
    dict(
        type='Resize',
        scale=(-1, 256),
        keep_ratio=True,
        interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackActionInputs'),
]
# num_classes: a split with another number of class folders is an error
# (ids come from the sorted folder names).
in1k_train = dict(
    type='ImageDataset',
    source='in1k',
    ann_file='',
    data_root=in1k_root,
    data_prefix=dict(img_path='train'),
    num_classes=1000,
    pipeline=in1k_train_pipeline)
in1k_val = dict(
    type='ImageDataset',
    source='in1k',
    ann_file='',
    data_root=in1k_root,
    data_prefix=dict(img_path='val'),
    num_classes=1000,
    pipeline=in1k_val_pipeline,
    test_mode=True)
# Mixup/CutMix with label smoothing, applied per source by the
# ActionDataPreprocessor.
in1k_batch_augments = dict(
    num_classes=1000, mixup_alpha=0.8, cutmix_alpha=1.0, label_smoothing=0.1)
