# The co-training positive control's video-only row (docs/cotraining.md):
# mvit_xs_objects.py without the images (same clips, model, batch size and
# schedule). Image-pretrain -> video-finetune: --cfg-options
# load_from=<best checkpoint of mvit_xs_objects_image.py> (the image head is
# left out, the video head is new).
_base_ = ['./mvit_xs_objects.py']

train_dataloader = dict(
    batch_sampler=dict(_delete_=True, type='CoTrainBatchSampler'),
    dataset=dict(
        datasets=dict(_delete_=True, demo_vid=_base_.objects_vid_train)))
val_dataloader = dict(
    dataset=dict(datasets=dict(_delete_=True, demo_vid=_base_.demo_vid_val)))
test_dataloader = dict(
    dataset=dict(datasets=dict(_delete_=True, demo_vid=_base_.demo_vid_test)))
model = dict(heads=dict(_delete_=True, demo_vid=_base_.demo_vid_head))
model_wrapper_cfg = dict(find_unused_parameters=False)
# One source: the steps per source of mvit_xs_objects.py are iterations.
max_iters, decay_iters, warmup_iters, val_interval = 6000, 3000, 30, 100
