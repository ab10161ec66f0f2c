# The co-training demo (mvit_xs_demo.py) with an exponential moving average
# of the weights: validation, test and the saved `state_dict` use the
# averaged weights; the raw ones are kept in the checkpoint's
# `ema_state_dict` so that `--resume` continues both.
#   tools/dist_train.sh configs/cotrain/mvit_xs_demo_ema.py 2
_base_ = ['./mvit_xs_demo.py']

# An averaging horizon of ~1/momentum = 100 of the 600 steps. ABOVE_NORMAL:
# the average is saved before the CheckpointHook writes the checkpoint.
custom_hooks = _base_.custom_hooks + [
    dict(type='EMAHook', momentum=0.01, priority='ABOVE_NORMAL')
]
