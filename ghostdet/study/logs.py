"""Training curves and iteration times of mmengine runs, read from the ``scalars.json`` that
mmengine's ``LocalVisBackend`` writes (``WORK_DIR/TIMESTAMP/vis_data/scalars.json``: one JSON
object per logged training iteration and one per validation).

A work dir holds one timestamped folder per start of ``tools/train.py`` (and of
``tools/test.py``, which logs no scalars). :func:`read_training_log` joins them in time order
the way the run went: a resumed start continues the run, and where it logged an iteration or a
validation again (those after the checkpoint it resumed from), the later value wins. A start
whose first logged iteration is no later than the run's first trained from scratch again, and
replaces the starts before it (a start resumed from a checkpoint older than the first logged
iteration is taken for one too; it logs again all that the replaced starts logged after it).

mmdet 3.3 ships a tool of the same name (``mmdet/.mim/tools/analysis_tools/analyze_logs.py``)
that reads the same files, but it imports seaborn, which mmdet does not require (so it fails
here), draws one curve per file (the starts of a resumed run are separate curves), and files
each epoch's first logged iteration under the epoch before (it reads a record's epoch after
storing it: on the quickstart's log its epoch 1 holds iterations 10, 20, 30 and 40), so its
per-epoch times, which leave out "the first" of each epoch, are shifted too.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..analysis.figures import log_y, save_figure

SCALARS = 'vis_data/scalars.json'
PathLike = Union[str, Path]


@dataclass
class TrainingLog:
    """One run's logged scalars.

    Attributes:
        name (str): What legends and tables call the run (its work dir's name by default).
        train (list[dict]): One record per logged training iteration, by ``iter``; each holds
            ``iter``, ``lr``, the losses, ``time`` and ``data_time`` (seconds per iteration,
            smoothed by mmengine's ``log_processor``), and ``epoch`` in epoch-based runs.
        val (list[dict]): One record per validation, by ``step``, which is the epoch in
            epoch-based runs and the iteration in iteration-based ones.
        sources (list[Path]): The ``scalars.json`` files the records come from, in order.
    """
    name: str
    train: List[dict] = field(default_factory=list)
    val: List[dict] = field(default_factory=list)
    sources: List[Path] = field(default_factory=list)

    @property
    def by_epoch(self) -> bool:
        """Whether the run counts epochs (its training records carry one)."""
        return any('epoch' in r for r in self.train)

    @property
    def train_keys(self) -> List[str]:
        return _keys(self.train, skip=('iter', 'epoch', 'step'))

    @property
    def val_keys(self) -> List[str]:
        return _keys(self.val, skip=('step',))

    @property
    def val_unit(self) -> str:
        return 'epoch' if self.by_epoch else 'iteration'

    def series(self, key: str) -> Tuple[np.ndarray, np.ndarray, str]:
        """``(x, y, x_label)`` of ``key``: training keys against the iteration, validation keys
        against the epoch or the iteration (see ``val``); ``time`` and ``data_time``, which
        both log, are the training ones. Records without the key are left out."""
        if key in self.train_keys:
            records, x_key, unit = self.train, 'iter', 'iteration'
        elif key in self.val_keys:
            records, x_key, unit = self.val, 'step', self.val_unit
        else:
            raise KeyError(f'{self.name} logged no {key!r}')
        points = [(r[x_key], r[key]) for r in records if key in r]
        x, y = (np.array(v, dtype=float) for v in zip(*points))
        return x, y, unit


def _keys(records: Sequence[dict], skip: Sequence[str]) -> List[str]:
    keys: Dict[str, None] = {}
    for record in records:
        keys.update(dict.fromkeys(k for k in record if k not in skip))
    return list(keys)


def find_scalars(path: PathLike) -> List[Path]:
    """The ``scalars.json`` files of a run, oldest first: ``path`` is a work dir, one of its
    timestamped folders, or the file itself. Empty files (the starts of ``tools/test.py``) are
    left out."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f'{path} does not exist')
    found = [path / SCALARS] if (path / SCALARS).is_file() else sorted(
        path.glob('*/' + SCALARS), key=lambda p: p.parent.parent.name)  # timestamps sort
    found = [p for p in found if p.stat().st_size > 0]
    if not found:
        raise FileNotFoundError(
            f'no logged scalars under {path}: mmengine writes WORK_DIR/TIMESTAMP/{SCALARS} '
            'while training, with LocalVisBackend in the config\'s visualizer (mmdet\'s '
            'default_runtime has it)')
    return found


def work_dir_of(path: PathLike) -> Path:
    """The work dir of a run given as its work dir, one of its timestamped folders or a
    ``TIMESTAMP/vis_data/scalars.json``."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    if folder.name == 'vis_data':
        folder = folder.parent
    return folder.parent if (folder / 'vis_data').is_dir() else folder


def _read_records(path: Path) -> Tuple[List[dict], List[dict]]:
    train, val = [], []
    with open(path, encoding='utf-8') as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                if not line.endswith('\n'):  # a run killed while writing its last line
                    break
                raise ValueError(f'{path}:{number} is not a JSON line: {err}') from None
            if not isinstance(record, dict) or 'step' not in record:
                raise ValueError(f'{path}:{number} is not an mmengine scalars record '
                                 '(a JSON object with a "step")')
            # training records carry the learning rate, validations never do
            if 'lr' in record:
                record.setdefault('iter', record['step'])
                train.append(record)
            else:
                val.append(record)
    return train, val


def read_training_log(path: PathLike, name: Optional[str] = None) -> TrainingLog:
    """Read a run's scalars (see the module's docstring for how restarts are joined).

    Args:
        path (str | Path): A work dir, one of its timestamped folders, or a ``scalars.json``.
        name (str, optional): The run's name. Defaults to the work dir's name.

    Raises:
        FileNotFoundError: Where ``path`` holds no scalars.
        ValueError: Where a file is not mmengine's format (its line is named).
    """
    sources = find_scalars(path)
    if name is None:
        name = work_dir_of(path).resolve().name
    train: Dict[int, dict] = {}
    val: Dict[int, dict] = {}
    used: List[Path] = []
    for source in sources:
        records, validations = _read_records(source)
        if not records and not validations:
            continue
        if train and records and min(r['iter'] for r in records) <= min(train):
            train, val, used = {}, {}, []  # trained from scratch again: a new run
        used.append(source)
        train.update((r['iter'], r) for r in records)
        val.update((r['step'], r) for r in validations)
    return TrainingLog(name=name, train=[train[i] for i in sorted(train)],
                       val=[val[s] for s in sorted(val)], sources=used)


def resolve_key(logs: Sequence[TrainingLog], key: str) -> str:
    """``key`` as the logs spell it: itself where some run logged it, else the one logged key
    that ends with ``/key`` (``bbox_mAP`` for ``coco/bbox_mAP``).

    Raises:
        KeyError: Naming the keys the runs logged.
    """
    logged = list(dict.fromkeys(k for log in logs for k in log.train_keys + log.val_keys))
    if key in logged:
        return key
    matches = [k for k in logged if k.endswith('/' + key)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise KeyError(f'{key!r} is ambiguous: {", ".join(matches)}')
    raise KeyError(f'no run logged {key!r}; logged: {", ".join(logged)}')


def default_keys(logs: Sequence[TrainingLog]) -> List[str]:
    """``loss`` and, where any run validated, the bbox mAP."""
    keys = ['loss']
    for log in logs:
        found = [k for k in log.val_keys if k.split('/')[-1] == 'bbox_mAP']
        if found:
            keys.append(found[0])
            break
    return keys


def best_validation(log: TrainingLog, key: str) -> Optional[Tuple[float, int, float, int]]:
    """``(best, its step, last, its step)`` of a validation key, or None where the run has not
    validated it."""
    points = [(r['step'], r[key]) for r in log.val if key in r]
    if not points:
        return None
    best = max(points, key=lambda p: p[1])
    return best[1], best[0], points[-1][1], points[-1][0]


def plot_training_logs(logs: Sequence[TrainingLog], keys: Sequence[str], out: PathLike,
                       title: Optional[str] = None) -> Path:
    """Draw each of ``keys`` (as :func:`resolve_key` spells them) for every run into ``out``:
    one panel per key, one line per run. Loss keys use a log scale. Returns ``out``."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    columns = min(len(keys), 2)
    rows = -(-len(keys) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(6.5 * columns, 4.2 * rows), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        units = set()
        for i, log in enumerate(logs):
            if key not in log.train_keys + log.val_keys:
                continue
            x, y, unit = log.series(key)
            units.add(unit)
            validation = key not in log.train_keys  # time and data_time are in both
            ax.plot(x, y, color=f'C{i % 10}', label=log.name,
                    marker='o' if validation or len(x) < 30 else None, markersize=4)
        ax.set_title(key, fontsize=10)
        ax.set_xlabel(' / '.join(sorted(units)))
        ax.grid(alpha=0.3)
        if 'loss' in key and all(y.min() > 0 for log in logs if key in log.train_keys
                                 for _, y, _ in [log.series(key)]):
            log_y(ax)
        ax.legend(fontsize=8)
    for ax in list(axes.flat)[len(keys):]:
        ax.axis('off')
    if title:
        fig.suptitle(title, fontsize=11)
    return save_figure(fig, out)


@dataclass
class TrainTime:
    """Seconds per training iteration of one run, as logged (each logged ``time`` is
    mmengine's smoothed value at that iteration).

    Attributes:
        groups (dict): Mean ``time`` per epoch (epoch-based runs) or over the run (key 0).
        mean (float): Mean of the logged times.
        data_share (float): Mean ``data_time`` over mean ``time``: the part spent waiting for
            data.
        records (int): Logged iterations counted.
    """
    groups: Dict[int, float]
    mean: float
    data_share: float
    records: int

    @property
    def slowest(self) -> Tuple[int, float]:
        return max(self.groups.items(), key=lambda g: g[1])

    @property
    def fastest(self) -> Tuple[int, float]:
        return min(self.groups.items(), key=lambda g: g[1])

    @property
    def spread(self) -> float:
        """Standard deviation of the per-epoch means (0 for one group)."""
        return float(np.std(list(self.groups.values())))


def train_time(log: TrainingLog, include_first: bool = False) -> TrainTime:
    """Iteration times of a run. The first logged iteration of each epoch (of the run, where it
    counts iterations) is left out unless ``include_first``: it carries the data loader's
    start-up and, after a validation, the switch back to training.

    Raises:
        ValueError: Where the run logged no ``time`` to count.
    """
    grouped: Dict[int, List[dict]] = {}
    for record in log.train:
        if 'time' in record:
            grouped.setdefault(record.get('epoch', 0), []).append(record)
    if not include_first:
        grouped = {g: records[1:] for g, records in grouped.items()}
    grouped = {g: records for g, records in grouped.items() if records}
    if not grouped:
        raise ValueError(f'{log.name} logged no iteration time to count'
                         + ('' if include_first else ' (beyond each epoch\'s first; '
                            'try including it)'))
    records = [r for group in grouped.values() for r in group]
    times = np.array([r['time'] for r in records])
    data = np.array([r.get('data_time', 0.0) for r in records])
    return TrainTime(groups={g: float(np.mean([r['time'] for r in rs]))
                             for g, rs in grouped.items()},
                     mean=float(times.mean()), data_share=float(data.mean() / times.mean()),
                     records=len(records))
