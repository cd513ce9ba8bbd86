"""The speed suite's records: what a run measures (:class:`Settings`), one model's timings
(:class:`Measurement`), a part's (:class:`PartResult`) and the whole run's, which speed.json
holds (:class:`SuiteReport`)."""
import statistics
from dataclasses import asdict, dataclass, field, fields
from typing import Dict, List, Optional, Sequence, Tuple

from ...utils.aliases import Size2d as Size


@dataclass
class Settings:
    """What a run measures and how long."""
    device: str = 'cuda'
    amp: bool = False  # fp32 and AMP
    quick: bool = False  # every part at tiny sizes: a smoke test
    warmup: int = 10
    iters: int = 20  # timed calls per model and round, at most
    round_seconds: Optional[float] = None  # fewer calls for models slower than this per round
    repeats: int = 5  # interleaved rounds
    cpu_batch: int = 16  # ImageNet batch on the CPU (no search for the largest)
    maskrcnn_size: Size = (800, 1280)
    upernet_size: Size = (512, 512)
    imagenet_size: Size = (224, 224)
    training_size: Size = (800, 1333)
    training_batch: int = 2
    models: Optional[Sequence[str]] = None  # restrict every part to these names
    # set by a budgeted run for one part: no timing round starts after this perf_counter
    # value, and only this precision is measured
    deadline: Optional[float] = None
    only_precision: Optional[str] = None

    @classmethod
    def for_device(cls, device: str, quick: bool = False, **overrides) -> 'Settings':
        """Defaults that finish in minutes: many short calls on a GPU, few long ones on the
        CPU; ``quick`` shrinks every size (ImageNet stays at 224: mmpretrain's Swin-T needs
        its 7x7 windows at stride 32) and the detectors' proposal counts (QUICK_PROPOSALS)."""
        if quick:
            base = dict(warmup=1, iters=1, repeats=2, cpu_batch=2, maskrcnn_size=(96, 128),
                        upernet_size=(64, 64), imagenet_size=(224, 224),
                        training_size=(96, 128), training_batch=2)
        elif device.startswith('cuda'):
            # at most ~0.5 s per model and round: a batch of 256 or a training step gets one
            # to a few calls, a Mask R-CNN image the full 20, and a full run with --amp (84
            # model-precision pairs) stays within minutes
            base = dict(warmup=5, iters=20, repeats=5, round_seconds=0.5)
        else:
            base = dict(warmup=1, iters=1, repeats=3)
        base.update(overrides)
        return cls(device=device, quick=quick, **base)

    def precisions(self) -> List[str]:
        if self.only_precision is not None:
            return [self.only_precision]
        return ['fp32', 'amp'] if self.amp else ['fp32']

    def amp_dtype(self) -> str:
        return 'float16' if self.device.startswith('cuda') else 'bfloat16'


@dataclass
class Measurement:
    """One model (or variant) in one precision."""
    model: str
    precision: str
    batch_size: int
    input_hw: Size
    params: int = 0
    times_s: List[float] = field(default_factory=list)  # per call (one batch)
    peak_memory_mib: Optional[float] = None
    flops: Dict[str, int] = field(default_factory=dict)
    error: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.times_s)

    def ms_per_image(self) -> float:
        return 1000 * statistics.median(self.times_s) / self.batch_size

    def spread_ms(self) -> Tuple[float, float]:
        return (1000 * min(self.times_s) / self.batch_size,
                1000 * max(self.times_s) / self.batch_size)

    def images_per_s(self) -> float:
        return 1000 / self.ms_per_image()

    def as_dict(self) -> dict:
        out = asdict(self)
        if self.ok:
            out.update(ms_per_image_median=self.ms_per_image(), spread_ms=self.spread_ms(),
                       images_per_s=self.images_per_s())
        return out


@dataclass
class PartResult:
    name: str
    title: str
    measurements: List[Measurement] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)
    error: Optional[str] = None
    seconds: float = 0.0


@dataclass
class SuiteReport:
    conditions: dict
    parts: List[PartResult]
    profiles: List[dict] = field(default_factory=list)  # mmrest.analysis.profile.Profile

    def as_dict(self) -> dict:
        return dict(conditions=self.conditions, parts={
            p.name: dict(title=p.title, error=p.error, seconds=round(p.seconds, 1),
                         notes=p.notes, measurements=[m.as_dict() for m in p.measurements])
            for p in self.parts}, profiles=self.profiles)

    @classmethod
    def from_dict(cls, data: dict) -> 'SuiteReport':
        """The report a ``speed.json`` holds (to render its tables again)."""
        names = {f.name for f in fields(Measurement)}
        parts = []
        for name, part in data['parts'].items():
            measurements = [Measurement(**{k: v for k, v in m.items() if k in names})
                            for m in part['measurements']]
            for m in measurements:
                m.input_hw = tuple(m.input_hw)
            parts.append(PartResult(name, part['title'], measurements, part['notes'],
                                    part['error'], part['seconds']))
        return cls(data['conditions'], parts, data.get('profiles', []))

    def part(self, name: str) -> Optional[PartResult]:
        return next((p for p in self.parts if p.name == name), None)
