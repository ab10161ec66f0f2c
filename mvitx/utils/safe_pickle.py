"""Reading pickle files that a user hands in (AVA proposals, prediction
dumps of ``tools/test.py --dump``) without letting them run code.

A pickle can name any importable callable and have it called while
loading; :func:`load_pickle` allows only the globals that plain data needs:
builtin containers and numbers, ``collections.OrderedDict`` /
``defaultdict``, ``_codecs.encode`` (bytes in protocol 2) and numpy arrays,
scalars and dtypes; with ``tensors=True`` also torch tensors, whose storages
are read by ``torch.load(weights_only=True)``.
"""
import _compat_pickle
import codecs
import collections
import io
import pickle

import numpy as np
import torch


class PickleSafetyError(pickle.UnpicklingError):
    """A pickle file that is damaged or references a global
    outside :data:`SAFE_PICKLE_GLOBALS`."""


def _allowed_globals() -> dict:
    out = {
        ('builtins', t.__name__): t
        for t in (dict, list, tuple, set, frozenset, bytearray, complex)
    }
    out[('collections', 'OrderedDict')] = collections.OrderedDict
    out[('collections', 'defaultdict')] = collections.defaultdict
    # Protocol 2 stores bytes (the data of every numpy array) as
    # ``_codecs.encode(text, 'latin1')``.
    out[('_codecs', 'encode')] = codecs.encode
    multiarray = np.core.multiarray
    # numpy 2 writes ``numpy._core``; numpy 1 reads it as ``numpy.core``.
    for core in ('numpy.core', 'numpy._core'):
        out[(f'{core}.multiarray', '_reconstruct')] = multiarray._reconstruct
        out[(f'{core}.multiarray', 'scalar')] = multiarray.scalar
        out[(f'{core}.numeric', '_frombuffer')] = np.core.numeric._frombuffer
    out[('numpy', 'ndarray')] = np.ndarray
    out[('numpy', 'dtype')] = np.dtype
    for dtype_class in {type(np.dtype(t)) for t in np.sctypeDict.values()}:
        out[('numpy.dtypes', dtype_class.__name__)] = dtype_class
    return out


#: ``(module, name)`` -> object: everything a safe pickle may reference.
SAFE_PICKLE_GLOBALS = _allowed_globals()


def _load_storage(data: bytes):
    """Stands in for ``torch.storage._load_from_bytes``, which reads a
    pickled tensor's storage with ``weights_only=False``."""
    return torch.load(io.BytesIO(data), weights_only=True)


#: What ``tensors=True`` adds: a pickled tensor is
#: ``_rebuild_tensor_v2(_load_from_bytes(data), offset, size, stride, ...)``.
TENSOR_PICKLE_GLOBALS = {
    ('torch._utils', '_rebuild_tensor_v2'): torch._utils._rebuild_tensor_v2,
    ('torch.storage', '_load_from_bytes'): _load_storage,
}


class _RestrictedUnpickler(pickle.Unpickler):

    def __init__(self, file, tensors: bool):
        super().__init__(file)
        self.allowed = SAFE_PICKLE_GLOBALS
        if tensors:
            self.allowed = {**SAFE_PICKLE_GLOBALS, **TENSOR_PICKLE_GLOBALS}

    def find_class(self, module: str, name: str):
        # Protocols 0-2 name builtins as Python 2 did (``__builtin__.set``);
        # map them back as pickle's own ``find_class`` does.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        try:
            return self.allowed[(module, name)]
        except KeyError:
            raise PickleSafetyError(f'{module}.{name}') from None


def load_pickle(path: str, tensors: bool = False):
    """Loads a pickle of plain data (containers, strings, numbers, numpy
    arrays).

    Args:
        path (str): The file.
        tensors (bool): Also allow torch tensors. Defaults to False.

    Returns:
        The unpickled object.

    Raises:
        PickleSafetyError: The file references anything else (a crafted
            file that would run code), or is truncated or not a pickle. The
            message names the file.
        FileNotFoundError: The file does not exist.
    """
    with open(path, 'rb') as f:
        try:
            return _RestrictedUnpickler(f, tensors).load()
        except PickleSafetyError as err:
            raise PickleSafetyError(
                f'{path} was refused: it references {err}, which is not '
                'allowed; only plain containers, numbers, strings, numpy '
                'arrays (and tensors where a tool reads them) may be pickled '
                'in an input file') from None
        # A damaged pickle fails with almost any exception type (truncated:
        # EOFError, UnpicklingError; garbled: also LookupError,
        # OverflowError, MemoryError, SystemError, numpy's RuntimeError).
        except Exception as err:
            raise PickleSafetyError(f'{path} is truncated or not a pickle: '
                                    f'{type(err).__name__}: {err}') from err
