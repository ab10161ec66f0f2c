# The co-training positive control (docs/cotraining.md, "Positive control"):
# the demo's 'xs' MViT co-trained on the shape images (100 a class) and on
# clips whose 10 classes are '<shape> slides' (the object alone tells them
# apart) from only `videos_per_class` training videos a class, so a
# video-only model is limited by the few objects it has seen while the
# images show every shape often.
#   python tools/data/make_demo_data.py --scale study --video-classes objects --out data/demo_objects
#   python tools/train.py configs/cotrain/mvit_xs_objects.py
# Rows of the study: mvit_xs_objects_image.py, mvit_xs_objects_video.py
# (+ load_from=<image-only checkpoint>: image-pretrain -> video-finetune),
# this config, mvit_xs_objects_bridge.py. Each trains until the video
# validation top-1 stops improving (the image-only run: the image top-1)
# and keeps its best checkpoint; tools/test.py tests the videos on the
# held-out test split (50 a class).
_base_ = [
    '../_base_/default_runtime.py', './_base_/demo.py',
    '../_base_/schedules/adamw_cosine.py'
]

demo_img_root = 'data/demo_objects/imagenet'
demo_vid_root = 'data/demo_objects/kinetics'
# The first this many training videos of each class (of 100 written);
# --cfg-options videos_per_class=None trains on all of them.
videos_per_class = 4
objects_vid_train = dict(
    _base_.demo_vid_train, samples_per_class='${videos_per_class}')

# Clips in batches of 16 (the demo study's): at 8, a video-only run on all
# 100 clips a class was still at chance after 600 iterations; at 16 it left
# chance after about 1,000 (docs/cotraining.md).
train_dataloader = dict(
    batch_size=16,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    batch_sampler=dict(
        type='CoTrainBatchSampler',
        strategy='alternating',
        batch_sizes=dict(demo_img=32, demo_vid=16),
        ratios=dict(demo_img=1, demo_vid=1)),
    dataset=dict(
        type='CoTrainDataset',
        datasets=dict(
            demo_img=_base_.demo_img_train, demo_vid=objects_vid_train)))
val_dataloader = dict(
    batch_size=50,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='CoTrainDataset',
        datasets=dict(
            demo_img=_base_.demo_img_val, demo_vid=_base_.demo_vid_val)))
test_dataloader = dict(
    val_dataloader,
    dataset=dict(
        type='CoTrainDataset',
        datasets=dict(
            demo_img=_base_.demo_img_val, demo_vid=_base_.demo_vid_test)))

model = dict(
    type='CoTrainRecognizer',
    backbone=_base_.demo_backbone,
    heads=dict(demo_img=_base_.demo_img_head, demo_vid=_base_.demo_vid_head),
    data_preprocessor=dict(type='ActionDataPreprocessor'))
model_wrapper_cfg = dict(
    type='MMDistributedDataParallel', find_unused_parameters=True)

# Counted in steps per source: validation every 100; the cosine schedule
# decays to min_lr over 3,000; training then goes on at min_lr until 5
# validations in a row have not gained 0.5 points of `monitor` over its best
# (none before the decay's end counts: the video-only runs start on a long
# plateau at chance, docs/cotraining.md), at the latest at 6,000. The
# co-trained rows alternate image and clip batches, so their iterations are
# twice these (the single-source rows set half). A checkpoint every 500
# iterations for resuming.
monitor = 'demo_vid/top1'
max_iters, decay_iters, warmup_iters, val_interval = 12000, 6000, 60, 200
default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=500, max_keep_ckpts=1, save_best='${monitor}'))
custom_hooks = [
    dict(
        type='PlateauStoppingHook',
        monitor='${monitor}',
        min_delta=0.5,
        patience=5,
        begin='${decay_iters}')
]
