# The schedule of every mvitx config: AdamW, a linear warm-up from
# `warmup_ratio * lr`, then a cosine decay to `min_lr`, all counted in
# iterations (co-training mixes datasets of unequal length), and the loops.
# The config that uses it sets the variables (its data base may set them for
# a family of configs):
#   lr, min_lr                  peak and final learning rate
#   warmup_iters, warmup_ratio  warm-up length and start (a fraction of lr)
#   max_iters, val_interval     training length and validation period
#   decay_iters                 end of the cosine decay (default: max_iters;
#                               set it lower to go on at min_lr after it)
#   layer_decay_rate            layer-wise lr decay (1.0: none)
# '${name}' stands for the variable `name`; mvitx.utils.load_config puts
# its value in after the config, its bases and --cfg-options are merged,
# so a derived config or `--cfg-options max_iters=...` changes it here too.
# bf16 autocast: `optim_wrapper = dict(type='BF16OptimWrapper')` or --amp.
optim_wrapper = dict(
    optimizer=dict(
        type='AdamW', lr='${lr}', betas=(0.9, 0.999), weight_decay=0.05),
    clip_grad=dict(max_norm=1.0),
    # No weight decay on norms, biases, position embeddings and the class
    # token; a rate below 1 (e.g. 0.75) makes early blocks learn slower.
    constructor='LayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate='${layer_decay_rate}'))
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor='${warmup_ratio}',
        by_epoch=False,
        begin=0,
        end='${warmup_iters}'),
    # T_max defaults to end - begin.
    dict(
        type='CosineAnnealingLR',
        eta_min='${min_lr}',
        by_epoch=False,
        begin='${warmup_iters}',
        end='${decay_iters}')
]
decay_iters = '${max_iters}'
# CoTrainLoop: per-source gradient accumulation, resumes mid-epoch without
# replaying data (the AVA configs use mmengine's IterBasedTrainLoop).
train_cfg = dict(
    type='CoTrainLoop',
    max_iters='${max_iters}',
    val_interval='${val_interval}')
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
