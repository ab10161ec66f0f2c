"""tools/data/make_class_map.py on two small class lists."""
import csv
import os.path as osp
import subprocess
import sys

import pytest

from mvitx.datasets.class_maps import COLUMNS, read_class_map

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def test_proposes_pairs_for_review(tmp_path):
    (tmp_path / 'img.txt'
     ).write_text('tench\nacoustic guitar\ncello\nsnorkel\nelectric guitar\n')
    (tmp_path / 'vid.txt'
     ).write_text('playing cello\nplaying guitar\nsnorkeling\nsurfing water\n')
    out = tmp_path / 'map.csv'
    subprocess.run([
        sys.executable,
        osp.join(ROOT, 'tools/data/make_class_map.py'),
        str(tmp_path / 'img.txt'),
        str(tmp_path / 'vid.txt'), '--out',
        str(out)
    ],
                   check=True,
                   cwd=ROOT)
    lines = out.read_text().splitlines()
    assert lines[0].startswith('# made by tools/data/make_class_map.py')
    rows = list(
        csv.DictReader(line for line in lines if not line.startswith('#')))
    assert list(rows[0]) == list(COLUMNS)
    assert [(r['src_id'], r['src_name'], r['dst_id'], r['dst_name'],
             r['method'], r['reviewed'])
            for r in rows] == [
                ('1', 'acoustic guitar', '1', 'playing guitar', 'token', 'no'),
                ('2', 'cello', '0', 'playing cello', 'token', 'no'),
                ('3', 'snorkel', '2', 'snorkeling', 'inflection', 'no'),
                ('4', 'electric guitar', '1', 'playing guitar', 'token', 'no'),
            ]
    # Unreviewed, it does not load; reviewed, it does.
    with pytest.raises(ValueError, match=r'map.csv:\d+: reviewed'):
        read_class_map(str(out))
    out.write_text(out.read_text().replace(',no\n', ',yes\n'))
    assert read_class_map(str(out)).src_to_dst == {1: 1, 2: 0, 3: 2, 4: 1}
