from .ava_inference import (ActorActions, KeyframeActions, action_names,
                            detect_persons, inference_detector)
from .detector import init_mmdet_detector, mmdet_config_path
from .export import (EXPORT_FORMATS, ExportableRecognizer, export_recognizer,
                     max_abs_difference, run_exported)
from .inference import (Recognition, SourceInfo, inference_recognizer,
                        init_model, topk_lines)
from .priors import PriorExtractor  # noqa: F401
from .temporal_sensitivity import (format_sensitivity, permuted_test_config,
                                   temporal_sensitivity)
