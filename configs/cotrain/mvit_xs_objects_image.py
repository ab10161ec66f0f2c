# The co-training positive control's image-only row (docs/cotraining.md):
# mvit_xs_objects.py without the clips (same images, model, batch size and
# schedule), stopped on the image validation top-1; its best checkpoint is
# the image-pretrain -> video-finetune row's starting point.
_base_ = ['./mvit_xs_objects.py']

train_dataloader = dict(
    batch_size=32,
    batch_sampler=dict(_delete_=True, type='CoTrainBatchSampler'),
    dataset=dict(datasets=dict(_delete_=True, demo_img=_base_.demo_img_train)))
val_dataloader = dict(
    dataset=dict(datasets=dict(_delete_=True, demo_img=_base_.demo_img_val)))
test_dataloader = val_dataloader
model = dict(heads=dict(_delete_=True, demo_img=_base_.demo_img_head))
model_wrapper_cfg = dict(find_unused_parameters=False)
monitor = 'demo_img/top1'
# One source: the steps per source of mvit_xs_objects.py are iterations.
max_iters, decay_iters, warmup_iters, val_interval = 6000, 3000, 30, 100
