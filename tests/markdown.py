"""Reading the documentation as the docs tests check it: code blocks, inline code, links,
tables and the brace patterns (``rest_{s,b}_1x.py``) that stand for several files."""
import itertools
import re
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple

from tests.common import REPO

USER_DOCS = [REPO / 'README.md', REPO / 'CHANGELOG.md', *sorted((REPO / 'docs').glob('*.md'))]


class CodeBlock(NamedTuple):
    line: int  # 1-based line of the opening fence
    language: str
    text: str


def code_blocks(text: str) -> List[CodeBlock]:
    blocks, lines = [], text.splitlines()
    start = language = None
    for number, line in enumerate(lines, 1):
        if line.startswith('```'):
            if start is None:
                start, language = number, line[3:].strip()
            else:
                blocks.append(CodeBlock(start, language, '\n'.join(lines[start:number - 1])))
                start = None
    return blocks


def prose(text: str) -> str:
    """The text outside fenced code blocks."""
    return re.sub(r'^```.*?^```', '', text, flags=re.S | re.M)


def inline_code(text: str) -> List[str]:
    return re.findall(r'`([^`\n]+)`', prose(text))


def command_lines(text: str) -> Iterator[str]:
    """Every command of the code blocks (continuation lines joined, comments cut) and every
    inline code span."""
    for block in code_blocks(text):
        for line in block.text.replace('\\\n', ' ').splitlines():
            yield line.split(' #')[0]
    yield from inline_code(text)


def relative_links(text: str) -> List[str]:
    """Targets of Markdown links that point into the repository (no URL), without anchors."""
    targets = re.findall(r'\]\(([^)\s]+)\)', prose(text))
    return [t.split('#')[0] for t in targets
            if not re.match(r'[a-z]+:', t) and t.split('#')[0]]


def expand_braces(pattern: str) -> List[str]:
    """``a_{s,b}_1x{,_win}.py`` -> the four names it stands for, in order."""
    parts = re.split(r'\{([^{}]*)\}', pattern)
    choices = [[p] if i % 2 == 0 else p.split(',') for i, p in enumerate(parts)]
    return [''.join(c) for c in itertools.product(*choices)]


def section(text: str, heading: str) -> str:
    """The text under the ``## `` heading that starts with ``heading``, up to the next one."""
    match = re.search(rf'^## {re.escape(heading)}.*?$(.*?)(?=^## |\Z)', text, flags=re.S | re.M)
    assert match, f'no "## {heading}" section'
    return match[1]


def table_rows(text: str) -> List[Dict[str, str]]:
    """The rows of the first Markdown table in ``text``, as dicts by header."""
    lines = [line for line in text.splitlines() if line.startswith('|')]
    header = [cell.strip() for cell in lines[0].strip('|').split('|')]
    return [dict(zip(header, (cell.strip() for cell in line.strip('|').split('|'))))
            for line in lines[2:]]


def doc_path(path: Path) -> str:
    return str(path.relative_to(REPO))
