# Runtime settings shared by every mvitx config: logging, checkpoints,
# TensorBoard, seeding and the distributed environment. Schedules are
# iteration-based throughout (co-training mixes datasets of unequal length).
default_scope = 'mvitx'

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    # Validation metrics at their iteration (mmengine's default puts them at
    # the epoch, 0 in iteration-based loops), so curves can be plotted.
    logger=dict(
        type='LoggerHook',
        interval=20,
        ignore_last=False,
        log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # Keeps the last `max_keep_ckpts` and the best by the first metric of
    # the validation run (`save_best='auto'`); configs name their main one.
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=1000,
        max_keep_ckpts=3,
        save_best='auto',
        rule='greater'),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    sync_buffers=dict(type='SyncBuffersHook'))

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    # NCCL on GPUs; tools/train.py switches to gloo on CPU-only machines.
    dist_cfg=dict(backend='nccl'))

log_processor = dict(type='LogProcessor', window_size=20, by_epoch=False)

vis_backends = [
    dict(type='LocalVisBackend'),
    dict(type='TensorboardVisBackend')
]
visualizer = dict(type='Visualizer', vis_backends=vis_backends)

log_level = 'INFO'
load_from = None
resume = False
# `deterministic=True` trades speed for bit-exact reruns and resumes.
randomness = dict(seed=0, deterministic=False, diff_rank_seed=False)
