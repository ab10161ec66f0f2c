from .draw import draw_priors, make_grid, render_attention

__all__ = ['draw_priors', 'make_grid', 'render_attention']
