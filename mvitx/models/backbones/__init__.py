from .mvit import MViT
