from .acc_metric import AccMetric
from .ava_metric import AVAMetric
