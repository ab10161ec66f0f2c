# The co-training demo on CPU: a tiny MViT (arch 'xs') learns the demo's
# shape images and shape-motion clips in one loop, alternating sources 1:1.
#   python tools/data/make_demo_data.py --out data/demo
#   tools/dist_train.sh configs/cotrain/mvit_xs_demo.py 2
# prints `demo_img/top1`, `demo_vid/top1` and `mean/top1`. Its twins
# mvit_xs_demo_image.py / mvit_xs_demo_video.py train one source for as
# many steps as it gets here (docs/cotraining.md compares them).
_base_ = [
    '../_base_/default_runtime.py', './_base_/demo.py',
    '../_base_/schedules/adamw_cosine.py'
]

train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(
        type='CoTrainBatchSampler',
        strategy='alternating',
        batch_sizes=dict(demo_img=32, demo_vid=8),
        ratios=dict(demo_img=1, demo_vid=1)),
    dataset=dict(
        type='CoTrainDataset',
        datasets=dict(
            demo_img=_base_.demo_img_train, demo_vid=_base_.demo_vid_train)))
val_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CoTrainDataset',
        datasets=dict(
            demo_img=_base_.demo_img_val, demo_vid=_base_.demo_vid_val)))
test_dataloader = val_dataloader

model = dict(
    type='CoTrainRecognizer',
    backbone=_base_.demo_backbone,
    heads=dict(demo_img=_base_.demo_img_head, demo_vid=_base_.demo_vid_head),
    data_preprocessor=dict(type='ActionDataPreprocessor'))
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)

# 300 steps per source.
max_iters, warmup_iters, val_interval = 600, 30, 200
default_hooks = dict(
    checkpoint=dict(interval='${max_iters}', save_best='mean/top1'))
