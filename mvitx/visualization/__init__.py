from .draw import draw_priors, make_grid, render_attention
from .labels import draw_labels, write_labelled
from .long_tail import plot_ap_vs_frequency
from .plots import (aggregate_runs, confusion_matrix, figure_to_array,
                    format_mean_std, load_scalars, per_class_from_confusion,
                    plot_confusion_matrix, plot_learning_curves,
                    plot_per_class_accuracy, save_figure)

__all__ = [
    'draw_priors', 'make_grid', 'render_attention', 'plot_ap_vs_frequency'
]
__all__ += ['draw_labels', 'write_labelled']
__all__ += [
    'aggregate_runs', 'confusion_matrix', 'figure_to_array', 'format_mean_std',
    'load_scalars', 'per_class_from_confusion', 'plot_confusion_matrix',
    'plot_learning_curves', 'plot_per_class_accuracy', 'save_figure'
]
