# The co-training positive control with the label-space bridge
# (docs/cotraining.md): mvit_xs_objects.py plus the reviewed map of every
# shape to its '<shape> slides' clip class (demo_objects.csv), so image
# batches also train the video head, from their labels (loss_bridge_rows)
# and from the image head's belief (loss_bridge_soft).
_base_ = ['./mvit_xs_objects.py']

model = dict(
    bridge=dict(
        type='LabelBridge',
        class_map='demo_objects.csv',
        image_source='demo_img',
        video_source='demo_vid',
        shared_rows_weight=1.0,
        soft_target_weight=0.5))
