from .attention_kl_loss import AttentionKLLoss
