"""The one Markdown table writer of the reports (speed suite, profiles, backbone comparisons,
ONNX latency, model summaries): ``| a | b |`` rows under a ``|---|---|`` rule."""
from typing import List, Sequence

EMPTY = '-'  # a cell that holds no figure


def markdown_row(cells: Sequence[object]) -> str:
    """One table row; cells are written with ``str``."""
    return '| ' + ' | '.join(str(cell) for cell in cells) + ' |'


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]],
                   drop_empty_columns: bool = False) -> List[str]:
    """The lines of a table: the header, its rule, then ``rows``. With
    ``drop_empty_columns``, a column that holds no figure (only :data:`EMPTY`) in any row is
    left out (e.g. a peer that is not in a comparison, memory the device does not report);
    a table without rows keeps every column."""
    keep = list(range(len(header)))
    if drop_empty_columns and rows:
        keep = [i for i in keep if any(str(row[i]) != EMPTY for row in rows)]
    lines = [markdown_row([header[i] for i in keep]), '|' + '---|' * len(keep)]
    lines += [markdown_row([row[i] for i in keep]) for row in rows]
    return lines
