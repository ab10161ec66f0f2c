import textwrap

import pytest

from tests.helpers import load_tool

fault_report = load_tool('tools/analysis/fault_report.py')

SUITE = '''
import pytest


def test_i02_second():
    """A crafted file.

    Outcome: refused.
    """


@pytest.mark.parametrize('n', [1, 2])
def test_i10_tenth(n):
    """A | pipe in the text.

    Outcome: fails for n=2.
    """
    assert n == 1


def test_works_old():
    """An old case.

    Outcome: still handled.
    """


def helper():
    pass
'''


def test_table_lists_every_case_in_item_order_with_its_result(tmp_path):
    (tmp_path / 'test_suite.py').write_text(SUITE)
    doc = tmp_path / 'reliability.md'
    doc.write_text('# Title\n\n<!-- fault-table -->\nSTALE TABLE\n'
                   '<!-- /fault-table -->\n\nAfter.\n')
    status = fault_report.main(['--tests', str(tmp_path), '--out', str(doc)])
    assert status == 1  # one case failed
    text = doc.read_text()
    assert text.startswith('# Title\n\n<!-- fault-table -->\n| item |')
    assert text.endswith('<!-- /fault-table -->\n\nAfter.\n')
    assert 'STALE TABLE' not in text
    rows = [line for line in text.splitlines() if line.startswith('| ')][1:]
    assert [row.split(' | ')[0] for row in rows] == ['| 2', '| 10', '| works']
    assert rows[0] == ('| 2 | A crafted file. | refused. | `test_i02_second` '
                       '| passed |')
    assert 'A \\| pipe in the text.' in rows[1]
    assert rows[1].endswith('| failed |')
    assert '2 passed, 1 failed, 0 skipped' in text


def test_undocumented_test_is_rejected_with_its_place(tmp_path):
    (tmp_path / 'test_bad.py').write_text(
        textwrap.dedent('''
        def test_i01_no_outcome():
            """Only one paragraph."""
        '''))
    with pytest.raises(ValueError, match=r'test_bad.py:2: test_i01_no_outc'):
        fault_report.read_cases(str(tmp_path))
