# AVA-format demo: the tiny MViT ('xs', from scratch) detects the actions of
# the actors of the demo data (its ava/ part, configs/ava/_base_/
# demo_ava.py) on CPU in minutes. Trains on the ground-truth actors, tests
# on the proposals scoring >= 0.6, evaluates frame mAP@0.5 (official
# protocol) with long-tail buckets. Run:
#   python tools/data/make_demo_data.py --out data/demo
#   bash tools/dist_train.sh configs/ava/mvit_xs_demo_ava.py 2
_base_ = [
    '../_base_/default_runtime.py', './_base_/demo_ava.py',
    '../_base_/schedules/adamw_cosine.py'
]

work_dir = 'work_dirs/mvit_xs_demo_ava'
# Weight decay on every parameter, as the demo's results in docs/ava.md
# were measured (mmengine's default constructor, no layer decay).
optim_wrapper = dict(
    constructor='DefaultOptimWrapperConstructor',
    paramwise_cfg=dict(_delete_=True))
train_cfg = dict(type='IterBasedTrainLoop')
default_hooks = dict(
    checkpoint=dict(interval='${max_iters}', save_best='ava/mAP'))
