"""Runs the fault suite and writes its results as a markdown table:
``python tools/analysis/fault_report.py [--tests tests/faults]
[--out docs/reliability.md]``.

Every test in the suite is named ``test_i<NN>_...`` (item NN of the
fault-injection issue) or ``test_works_...`` (a case that already worked and
must not regress), and its docstring has two paragraphs: the bad input, and
``Outcome: ...``, what mvitx does with it. The table lists each test with
those texts and the result of this run (passed, failed, skipped). With
``--out`` the table replaces the text between the ``<!-- fault-table -->``
and ``<!-- /fault-table -->`` lines of that file.
"""
import argparse
import ast
import glob
import os.path as osp
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from typing import Dict, List, NamedTuple, Optional, Sequence

START, END = '<!-- fault-table -->', '<!-- /fault-table -->'


class FaultCase(NamedTuple):
    """One test of the fault suite, from its name and docstring."""
    item: str
    name: str
    case: str
    outcome: str


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Run the fault suite and tabulate its results')
    parser.add_argument(
        '--tests', default='tests/faults', help='folder of the fault suite')
    parser.add_argument(
        '--out', help='markdown file whose fault table is replaced')
    return parser.parse_args(argv)


def read_cases(folder: str) -> List[FaultCase]:
    """The documented tests of ``folder/test_*.py``, in item order.

    Raises:
        ValueError: A test whose name or docstring breaks the convention,
            naming the file and line.
    """
    cases = []
    for path in sorted(glob.glob(osp.join(folder, 'test_*.py'))):
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        for node in tree.body:
            if not (isinstance(node, ast.FunctionDef)
                    and node.name.startswith('test_')):
                continue
            where = f'{path}:{node.lineno}'
            match = re.match(r'test_(?:i(\d+)|(works))_', node.name)
            doc = ast.get_docstring(node) or ''
            parts = doc.split('\n\n')
            if match is None or len(
                    parts) != 2 or not parts[1].startswith('Outcome:'):
                raise ValueError(
                    f'{where}: {node.name} must be named test_i<NN>_... or '
                    'test_works_... and have a docstring "<bad input>\\n\\n'
                    'Outcome: <what happens>"')
            item = str(int(match[1])) if match[1] else 'works'
            cases.append(
                FaultCase(item, node.name, ' '.join(parts[0].split()),
                          ' '.join(parts[1][len('Outcome:'):].split())))
    return sorted(
        cases,
        key=lambda c: (c.item == 'works', int(c.item)
                       if c.item.isdigit() else 0, c.name))


def run_suite(folder: str) -> Dict[str, str]:
    """Runs pytest on ``folder``; returns the result of each test function
    (a parametrized one fails if any of its cases fails)."""
    with tempfile.TemporaryDirectory() as tmp:
        xml = osp.join(tmp, 'results.xml')
        subprocess.run([
            sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
            f'--junitxml={xml}', folder
        ],
                       check=False)
        if not osp.isfile(xml):
            raise RuntimeError(f'pytest wrote no results for {folder}')
        root = ET.parse(xml).getroot()
    results = {}
    rank = {'passed': 0, 'skipped': 1, 'failed': 2}
    for case in root.iter('testcase'):
        name = case.get('name').split('[')[0]
        if case.find('failure') is not None or case.find('error') is not None:
            result = 'failed'
        elif case.find('skipped') is not None:
            result = 'skipped'
        else:
            result = 'passed'
        if rank[result] >= rank[results.get(name, 'passed')]:
            results[name] = result
    return results


def format_table(cases: Sequence[FaultCase], results: Dict[str, str]) -> str:
    """The markdown table of ``cases`` with their ``results``."""
    lines = [
        '| item | bad input | outcome | test | result |',
        '|---|---|---|---|---|',
    ]
    for c in cases:
        cells = (c.item, c.case, c.outcome, f'`{c.name}`',
                 results.get(c.name, 'not run'))
        lines.append('| ' +
                     ' | '.join(cell.replace('|', '\\|')
                                for cell in cells) + ' |')
    counts = {
        r: sum(results.get(c.name) == r for c in cases)
        for r in ('passed', 'failed', 'skipped')
    }
    lines.append('')
    lines.append(', '.join(f'{n} {r}' for r, n in counts.items()))
    return '\n'.join(lines)


def replace_table(path: str, table: str) -> None:
    """Writes ``table`` between the markers of ``path``.

    Raises:
        ValueError: The file lacks the markers.
    """
    with open(path) as f:
        text = f.read()
    if START not in text or END not in text:
        raise ValueError(f'{path}: no {START} ... {END} lines to replace')
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    with open(path, 'w') as f:
        f.write(f'{head}{START}\n{table}\n{END}{tail}')


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    cases = read_cases(args.tests)
    results = run_suite(args.tests)
    table = format_table(cases, results)
    print(table)
    if args.out:
        replace_table(args.out, table)
    return int(any(results.get(c.name) != 'passed' for c in cases))


if __name__ == '__main__':
    sys.exit(main())
