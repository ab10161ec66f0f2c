"""Export of a recognizer (backbone + one head) to ONNX or ``torch.export``,
with a numerical check of the exported model against PyTorch.

The exported model takes a normalised float clip batch ``(N, 3, T, H, W)``
(what the data preprocessor feeds the backbone: ``(pixel - mean) / std``
with the config's ``data_preprocessor`` mean and std; an image is a clip
of ``T = 1``, which the backbone treats exactly as ``(N, 3, H, W)``) and
returns the head's logits ``(N, num_classes)`` (the softmax of which is
the ``pred_score`` of one view). ``T``, ``H`` and ``W`` are fixed at
export; the batch size ``N`` is free.

ONNX goes through PyTorch's TorchScript-based exporter
(``torch.onnx.export(..., dynamo=False)``): on torch 2.14 the
``torch.export``-based one (``dynamo=True``, which also needs
``onnxscript``) took 5x longer on MViTv2-S and its unoptimised graph failed
in ONNX Runtime.
"""
import warnings
from typing import Optional, Sequence

import numpy as np
import torch
import torch.nn as nn

#: The formats of :func:`export_recognizer` and their file extensions.
EXPORT_FORMATS = {'onnx': '.onnx', 'torch.export': '.pt2'}
#: The ONNX opset written (ONNX Runtime >= 1.12 runs it).
ONNX_OPSET = 17
#: The batch size of the example input at export; 0 and 1 would make
#: ``torch.export`` fix the batch size.
EXAMPLE_BATCH = 2


class ExportableRecognizer(nn.Module):
    """A recognizer's backbone and the head of one source as a plain module,
    in eval mode.

    Args:
        model (nn.Module): A recognizer with ``backbone`` and ``heads`` (a
            :class:`~mvitx.models.recognizers.CoTrainRecognizer`) and no
            neck.
        source (str, optional): The head to keep. Defaults to None: the
            model's only head.

    Raises:
        ValueError: A model with a neck (its context comes from the priors
            of a batch, which the exported model has no input for), or
            several heads and no ``source``.
        KeyError: An unknown ``source``.
    """

    def __init__(self, model: nn.Module, source: Optional[str] = None):
        super().__init__()
        if getattr(model, 'neck', None) is not None:
            raise ValueError('export supports recognizers without a neck; '
                             f'this one has {type(model.neck).__name__}')
        heads = list(model.heads)
        if source is None:
            if len(heads) != 1:
                raise ValueError(f'the model has heads {heads}: choose one '
                                 'with source=')
            source = heads[0]
        if source not in model.heads:
            raise KeyError(f'no head {source!r}; the model has {heads}')
        self.source = source
        self.backbone = model.backbone
        self.head = model.heads[source]
        # Dropout and drop path off. Keep it so: the ONNX exporter restores
        # the mode it found, and restoring training mode reaches every
        # submodule.
        self.eval()

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Logits of a batch.

        Args:
            inputs (Tensor): ``(N, 3, T, H, W)`` normalised clips.

        Returns:
            Tensor: ``(N, num_classes)`` logits.
        """
        return self.head(self.backbone(inputs))


def _example(shape: Sequence[int], batch_size: int, seed: int) -> torch.Tensor:
    """A standard-normal ``(batch_size, 3, T, H, W)`` input (the range of
    normalised pixels)."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randn((batch_size, 3, *shape), generator=generator)


def export_recognizer(recognizer: ExportableRecognizer, out_file: str,
                      fmt: str, shape: Sequence[int]) -> str:
    """Exports a recognizer for inputs ``(N, 3, T, H, W)`` of any ``N``.

    Args:
        recognizer (ExportableRecognizer): The module to export, on the
            CPU.
        out_file (str): The file to write, with the format's extension
            (``.onnx``, or ``.pt2`` for ``torch.export.save``).
        fmt (str): A key of :data:`EXPORT_FORMATS`.
        shape (Sequence[int]): ``(T, H, W)`` of the input.

    Returns:
        str: ``out_file``.

    Raises:
        ValueError: An unknown format, a file without the format's
            extension, or a shape of other than three sizes.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f'format must be one of {list(EXPORT_FORMATS)}, '
                         f'got {fmt!r}')
    if len(shape) != 3:
        raise ValueError(f'shape must be (T, H, W), got {tuple(shape)}')
    if not out_file.endswith(EXPORT_FORMATS[fmt]):
        # torch.export.load reads only .pt2 archives
        raise ValueError(f'a {fmt} export is written as '
                         f'*{EXPORT_FORMATS[fmt]}, got {out_file}')
    example = _example(shape, EXAMPLE_BATCH, seed=0)
    if fmt == 'torch.export':
        batch = torch.export.Dim('batch')
        program = torch.export.export(
            recognizer, (example, ), dynamic_shapes=({
                0: batch
            }, ))
        torch.export.save(program, out_file)
        return out_file
    with warnings.catch_warnings():
        # Expected here: the tracer fixes T, H and W (they are part of the
        # export), the legacy exporter announces its successor (see the
        # module doc) and uses deprecated torch internals, and constant
        # folding skips strided slices.
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        warnings.filterwarnings(
            'ignore', 'You are using the legacy TorchScript-based ONNX',
            DeprecationWarning)
        warnings.filterwarnings(
            'ignore', category=DeprecationWarning, module='torch.onnx')
        warnings.filterwarnings('ignore', 'Constant folding', UserWarning)
        torch.onnx.export(
            recognizer, (example, ),
            out_file,
            input_names=['inputs'],
            output_names=['scores'],
            dynamic_axes=dict(inputs={0: 'batch'}, scores={0: 'batch'}),
            opset_version=ONNX_OPSET,
            dynamo=False)
    return out_file


def run_exported(out_file: str, fmt: str, inputs: torch.Tensor) -> np.ndarray:
    """Runs an exported model: ONNX with ONNX Runtime (CPU), a ``.pt2``
    with the loaded ``torch.export`` program.

    Args:
        out_file (str): The file of :func:`export_recognizer`.
        fmt (str): Its format, a key of :data:`EXPORT_FORMATS`.
        inputs (Tensor): ``(N, 3, T, H, W)``.

    Returns:
        np.ndarray: ``(N, num_classes)`` logits.
    """
    if fmt == 'onnx':
        import onnxruntime
        session = onnxruntime.InferenceSession(
            out_file, providers=['CPUExecutionProvider'])
        return session.run(None, {'inputs': inputs.numpy()})[0]
    program = torch.export.load(out_file)
    with torch.no_grad():
        return program.module()(inputs).numpy()


def max_abs_difference(recognizer: ExportableRecognizer,
                       out_file: str,
                       fmt: str,
                       shape: Sequence[int],
                       batch_size: int = 3,
                       seed: int = 1) -> float:
    """The largest absolute difference between the logits of the exported
    model and of ``recognizer`` on one random input.

    Args:
        recognizer (ExportableRecognizer): The exported module.
        out_file (str): Its export.
        fmt (str): The export's format, a key of :data:`EXPORT_FORMATS`.
        shape (Sequence[int]): ``(T, H, W)`` of the export.
        batch_size (int): ``N`` of the input; another size than the
            export's example checks that the batch size is free. Defaults
            to 3.
        seed (int): Seed of the standard-normal input. Defaults to 1.

    Returns:
        float: ``max |exported - recognizer|`` over the ``(N, num_classes)``
        logits.
    """
    inputs = _example(shape, batch_size, seed)
    with torch.no_grad():
        expected = recognizer(inputs).numpy()
    return float(np.abs(run_exported(out_file, fmt, inputs) - expected).max())
