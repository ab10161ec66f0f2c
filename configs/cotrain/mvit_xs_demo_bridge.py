# mvit_xs_demo.py with the label-space bridge (docs/cotraining.md): image
# batches of the 4 shapes that have a '<shape> slides' clip class also
# train the video head's rows of those 4 classes, from their labels
# (loss_bridge_rows) and from the image head's belief (loss_bridge_soft).
_base_ = ['./mvit_xs_demo.py']

model = dict(
    bridge=dict(
        type='LabelBridge',
        class_map='demo.csv',
        image_source='demo_img',
        video_source='demo_vid',
        shared_rows_weight=1.0,
        soft_target_weight=0.5))
