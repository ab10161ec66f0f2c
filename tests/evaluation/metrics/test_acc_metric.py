import pytest
import torch

from mvitx.evaluation import AccMetric


def _pred(source, label, scores):
    return dict(
        source=source,
        gt_label=torch.tensor([label]),
        pred_score=torch.tensor(scores, dtype=torch.float32))


def test_per_source_top1_top5_and_mean():
    metric = AccMetric(topk=(1, 2))
    metric.dataset_meta = {}
    metric.process(
        {},
        [
            _pred('in1k', 0, [0.9, 0.05, 0.05]),  # top1 hit
            _pred('in1k', 1, [0.5, 0.3, 0.2]),  # top2 hit
            _pred('in1k', 2, [0.5, 0.3, 0.2]),  # miss
            _pred('in1k', 2, [0.1, 0.1, 0.8]),  # top1 hit
        ])
    metric.process(
        {},
        [
            _pred('k400', 1, [0.2, 0.7, 0.1, 0.0]),  # top1 hit
            _pred('k400', 3, [0.4, 0.3, 0.2, 0.1]),  # miss
        ])
    res = metric.evaluate(6)
    assert res['in1k/top1'] == pytest.approx(50.)
    assert res['in1k/top2'] == pytest.approx(75.)
    assert res['k400/top1'] == pytest.approx(50.)
    assert res['k400/top2'] == pytest.approx(50.)
    assert res['mean/top1'] == pytest.approx(50.)
    assert res['mean/top2'] == pytest.approx(62.5)
    # The first key is the one `save_best='auto'` keeps.
    assert next(iter(res)) == 'mean/top1'


def test_topk_larger_than_classes_and_missing_source():
    metric = AccMetric()
    metric.process({}, [_pred(None, 1, [0.6, 0.4]), _pred(None, 0, [1, 0])])
    res = metric.evaluate(2)
    assert res['default/top1'] == pytest.approx(50.)
    assert res['default/top5'] == pytest.approx(100.)


def test_bad_topk():
    with pytest.raises(ValueError):
        AccMetric(topk=(0, ))
