from .topdown import TopDownModulation
