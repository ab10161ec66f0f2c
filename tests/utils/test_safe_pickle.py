"""load_pickle reads plain data pickles and refuses anything that could run
code."""
import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest

from mvitx.utils import PickleSafetyError, load_pickle


@pytest.mark.parametrize('protocol', [2, 3, 4, 5])
def test_plain_data_of_every_protocol_loads(tmp_path, protocol):
    data = {
        'vid,0902': np.arange(10, dtype=np.float32).reshape(2, 5),
        'vid,0903': np.linspace(0, 1, 8).reshape(2, 4),
        'nested': OrderedDict(a=[1, 2.5, 'text', b'raw', None, True]),
        'scalar': np.float64(0.25),
        'items': ({1, 2}, frozenset({3}), 1 + 2j),
    }
    path = tmp_path / 'data.pkl'
    path.write_bytes(pickle.dumps(data, protocol=protocol))
    out = load_pickle(str(path))
    assert list(out) == list(data)
    for key in ('vid,0902', 'vid,0903'):
        assert out[key].dtype == data[key].dtype
        np.testing.assert_array_equal(out[key], data[key])
    assert out['nested'] == data['nested']
    assert type(out['nested']) is OrderedDict
    assert out['scalar'] == 0.25 and out['scalar'].dtype == np.float64
    assert out['items'] == data['items']


class _Touch:
    """Pickles as a call of ``func`` that creates ``marker``."""

    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return self.func, (self.arg, )


@pytest.mark.parametrize('call', ['os.system', 'builtins.exec'])
def test_crafted_pickle_is_refused_and_runs_nothing(tmp_path, call):
    marker = tmp_path / 'PWNED'
    payload = (
        _Touch(os.system, f'touch {marker}') if call == 'os.system' else
        _Touch(exec, f'open({str(marker)!r}, "w").close()'))
    path = tmp_path / 'proposals.pkl'
    path.write_bytes(pickle.dumps({'vid,0902': payload}, protocol=2))
    with pytest.raises(PickleSafetyError) as err:
        load_pickle(str(path))
    assert str(path) in str(err.value)
    assert call.split('.')[1] in str(err.value)
    assert not marker.exists()


def test_truncated_pickle_names_the_file(tmp_path):
    path = tmp_path / 'proposals.pkl'
    data = pickle.dumps({'vid,0902': np.ones((3, 5), np.float32)})
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(
            PickleSafetyError, match=f'{path} is truncated or not a pickle'):
        load_pickle(str(path))
    path.write_text('video_id,timestamp\n')
    with pytest.raises(PickleSafetyError, match=str(path)):
        load_pickle(str(path))


def test_tensors_load_only_when_asked_and_their_storage_cannot_run_code(
        tmp_path):
    import io

    import torch
    path = tmp_path / 'preds.pkl'
    samples = [dict(pred_score=torch.rand(4), gt_label=torch.tensor([2]))]
    path.write_bytes(pickle.dumps(samples))
    with pytest.raises(PickleSafetyError, match='torch._utils'):
        load_pickle(str(path))
    out = load_pickle(str(path), tensors=True)
    torch.testing.assert_close(out[0]['pred_score'], samples[0]['pred_score'])
    assert out[0]['gt_label'].tolist() == [2]

    # A "storage" whose bytes are a torch.save of a crafted object.
    marker = tmp_path / 'PWNED'
    blob = io.BytesIO()
    torch.save(_Touch(os.system, f'touch {marker}'), blob)
    path.write_bytes(
        pickle.dumps(_Touch(torch.storage._load_from_bytes, blob.getvalue())))
    with pytest.raises(PickleSafetyError, match=str(path)):
        load_pickle(str(path), tensors=True)
    assert not marker.exists()
