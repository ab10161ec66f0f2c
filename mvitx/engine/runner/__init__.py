from .cotrain_loop import CoTrainLoop
