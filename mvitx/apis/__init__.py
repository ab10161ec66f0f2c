from .priors import PriorExtractor  # noqa: F401
