"""How far the top-down neck's zero-initialised gates opened: ``python
tools/analysis/topdown_gates.py CKPT [CKPT ...]`` prints, as a markdown
table, the mean absolute value of each modulated block's per-channel gate
(``neck.attns.<i>.gate``, the ``i``-th of the neck's ``block_indices``) in
every checkpoint, and the mean ± sample std over the checkpoints when there
are several (``docs/topdown.md``). Checkpoints load with
``weights_only=True`` (:func:`mvitx.utils.checkpoint.load_checkpoint_file`).
"""
import argparse
import re
from typing import Dict, List, Optional, Sequence

from mvitx.utils.checkpoint import load_checkpoint_file
from mvitx.visualization import format_mean_std

GATE_KEY = re.compile(r'(?:.*\.)?neck\.attns\.(\d+)\.gate$')


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description='Mean |gate| per modulated block of top-down checkpoints')
    parser.add_argument('checkpoints', nargs='+', help='checkpoint files')
    parser.add_argument(
        '--digits', type=int, default=3, help='decimals in the table')
    return parser.parse_args(argv)


def gate_magnitudes(path: str) -> Dict[int, float]:
    """``{i: mean |neck.attns.<i>.gate|}`` of one checkpoint.

    Raises:
        KeyError: The checkpoint has no top-down gate (a plain model).
    """
    checkpoint = load_checkpoint_file(path, map_location='cpu')
    state = checkpoint.get('state_dict', checkpoint)
    gates = {}
    for key, value in state.items():
        match = GATE_KEY.match(key)
        if match:
            gates[int(match.group(1))] = float(value.abs().mean())
    if not gates:
        raise KeyError(f'{path} has no top-down gate (no key '
                       "'neck.attns.<i>.gate'): is it a top-down model?")
    return dict(sorted(gates.items()))


def gate_table(rows: Dict[str, Dict[int, float]], digits: int = 3) -> str:
    """Markdown table, one row per checkpoint (and mean ± std)."""
    blocks = sorted({i for gates in rows.values() for i in gates})
    lines = [
        '| checkpoint | ' + ' | '.join(f'attns.{i}' for i in blocks) + ' |',
        '|---|' + '---:|' * len(blocks)
    ]
    for path, gates in rows.items():
        cells = [
            f'{gates[i]:.{digits}f}' if i in gates else '' for i in blocks
        ]
        lines.append(f'| {path} | ' + ' | '.join(cells) + ' |')
    if len(rows) > 1:
        cells = []
        for i in blocks:
            values = [gates[i] for gates in rows.values() if i in gates]
            cells.append(format_mean_std(values, digits))
        lines.append(f'| mean ± std ({len(rows)}) | ' + ' | '.join(cells) +
                     ' |')
    return '\n'.join(lines)


def main(argv: Optional[Sequence[str]] = None) -> List[str]:
    args = parse_args(argv)
    rows = {path: gate_magnitudes(path) for path in args.checkpoints}
    table = gate_table(rows, args.digits)
    print(table)
    return table.splitlines()


if __name__ == '__main__':
    main()
