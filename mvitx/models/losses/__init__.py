from .attention_kl_loss import AttentionKLLoss
from .bridge import LabelBridge
from .logit_adjustment import actor_class_priors, binary_logit_adjustment
