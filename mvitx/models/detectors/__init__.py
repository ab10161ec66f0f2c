from .ava_detector import AVADetector
