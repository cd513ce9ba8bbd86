"""The report of a checkpoint loaded into a backbone: what happened to every tensor."""
import re
from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple


@dataclass
class LoadReport:
    """What happened to every tensor of a checkpoint loaded into a backbone."""
    source: str
    loaded: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)
    unexpected: List[str] = field(default_factory=list)
    # Layers an ImageNet classifier does not have (output norms of stages 1-3, CWin convs):
    # expected to start from their initial values, so reported quietly.
    new: List[str] = field(default_factory=list)
    # Keys deliberately left out, by reason (classifier head, other parts of a detector).
    skipped: Dict[str, List[str]] = field(default_factory=dict)
    # The authors' names put into mmrest's: (theirs, ours).
    renamed: List[Tuple[str, str]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.missing and not self.unexpected

    def summary(self) -> str:
        lines = [f'loaded {len(self.loaded)} tensors from {self.source}']
        if self.renamed:
            shown = ', '.join(f'{a} -> {b}' for a, b in self.renamed[:4])
            more = f', ... ({len(self.renamed) - 4} more)' if len(self.renamed) > 4 else ''
            lines.append(f"renamed {len(self.renamed)} tensors from the authors' names: "
                         f'{shown}{more}')
        for reason, keys in self.skipped.items():
            lines.append(f'skipped {len(keys)} tensors ({reason}): {compact_keys(keys)}')
        if self.new:
            lines.append(f'initialised {len(self.new)} tensors that an ImageNet classifier does '
                         f'not have: {compact_keys(self.new)}')
        if self.missing:
            lines.append(f'MISSING in the checkpoint, left at their initial values '
                         f'({len(self.missing)}): {compact_keys(self.missing)}')
        if self.unexpected:
            lines.append(f'UNEXPECTED in the checkpoint, not loaded ({len(self.unexpected)}): '
                         f'{compact_keys(self.unexpected)}')
        return '\n  '.join(lines)


def compact_keys(keys: Sequence[str], limit: int = 12) -> str:
    """Group keys by module (``stage3.*.attn.up_norm.weight``) so long lists stay readable."""
    grouped: Dict[str, List[str]] = {}
    for key in keys:
        grouped.setdefault(re.sub(r'\.\d+\.', '.*.', key), []).append(key)
    items = [f'{pattern} (x{len(members)})' if len(members) > 1 else members[0]
             for pattern, members in grouped.items()]
    more = f', ... and {len(items) - limit} more' if len(items) > limit else ''
    return ', '.join(items[:limit]) + more
