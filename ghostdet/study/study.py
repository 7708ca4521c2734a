"""Same-budget study: train several detector configs the same way, evaluate them on the test
split, measure their cost and speed, and publish one report (``tools/study.py``).

Each run lives in ``<work_root>/<config name>/`` and every stage is resumable: running the
study again skips what is done, so a killed study loses at most the unfinished part.

- ``train``: :func:`~ghostdet.apis.runner.train` per config (what ``tools/train.py`` does), up
  to ``parallel`` at once in their own processes (on the H200 this saved no time in total).
  Output goes to ``train.log``; a run with checkpoints but no ``train_done.json`` is resumed
  from its newest checkpoint. Wall time is recorded per attempt in ``train_time.json``.
- ``test``: :func:`~ghostdet.apis.runner.test` on the final checkpoint (the last one the
  schedule saves; nothing is picked on the test split) -> ``test_metrics.json``, its raw
  predictions -> ``test_predictions.pkl`` (the report's errors by class), and its detections on
  the first test image -> ``picture_dets.json`` (the report's picture and errors can then be
  drawn from runs copied back without their checkpoints).
- ``measure``: one model at a time, alone on the device: params, MACs at the test input size,
  inference speed (batch sizes x fp32 / AMP on CUDA) with the trained weights, and training
  iterations per second on a synthetic batch of the config's batch size -> ``measure.json``.
- ``report``: see :mod:`ghostdet.study.report`.
"""
import io
import json
import multiprocessing as mp
import os
import os.path as osp
import re
import sys
import tarfile
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import torch

from ..utils.atomic_io import atomic_write
from ..utils.config import config_file

STAGES = ('train', 'test', 'measure', 'report')
DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')  # checked before training
Progress = Optional[Callable[[str], None]]


def _print(message: str) -> None:
    print(message, flush=True)


def write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON atomically (a killed study never leaves half a file)."""
    atomic_write(json.dumps(obj, indent=1).encode('utf-8'), path)


def read_json(path: Path) -> Optional[Any]:
    if not path.is_file():
        return None
    with open(path, encoding='utf-8') as f:
        return json.load(f)


@dataclass
class StudyRun:
    """One config of a study and where its outputs go.

    Attributes:
        config (Path): The config file.
        work_dir (Path): ``<work_root>/<config name>``.
    """
    config: Path
    work_dir: Path

    @property
    def name(self) -> str:
        return self.config.stem

    def path(self, name: str) -> Path:
        return self.work_dir / name

    @property
    def train_log(self) -> Path:
        return self.path('train.log')

    # the file each stage writes last, once its work on the run is complete
    RESULT_FILES = dict(train='train_done.json', test='test_metrics.json',
                        measure='measure.json')

    def result_path(self, stage: str) -> Path:
        """The file ``stage`` (train, test or measure) writes when it has finished this run."""
        if stage not in self.RESULT_FILES:
            raise ValueError(f'no such stage {stage!r}; expected one of {list(self.RESULT_FILES)}')
        return self.path(self.RESULT_FILES[stage])

    def done(self, stage: str) -> bool:
        """Whether ``stage`` has finished this run (its result file holds JSON): the one test
        every stage and :meth:`Study.left` use."""
        return read_json(self.result_path(stage)) is not None

    @property
    def train_done(self) -> Optional[dict]:
        return read_json(self.result_path('train'))

    @property
    def metrics(self) -> Optional[dict]:
        return read_json(self.result_path('test'))

    @property
    def predictions(self) -> Path:
        """The test split's raw predictions (``tools/test.py --out``), for the confusion
        matrix."""
        return self.path('test_predictions.pkl')

    @property
    def measure(self) -> Optional[dict]:
        return read_json(self.result_path('measure'))

    @property
    def train_seconds(self) -> float:
        """Wall time of every training attempt together (a killed attempt counts up to its
        last heartbeat)."""
        attempts = read_json(self.path('train_time.json')) or []
        return sum(a['end'] - a['start'] for a in attempts)

    def has_checkpoints(self) -> bool:
        return self.work_dir.is_dir() and any(p.suffix == '.pth' for p in self.work_dir.iterdir())


def plan_runs(configs: Sequence[str], work_root: str) -> List[StudyRun]:
    """One :class:`StudyRun` per config; config names must be unique (they name the folders).

    Raises:
        FileNotFoundError: A config does not exist.
        ValueError: No configs, or two with the same file name.
    """
    if not configs:
        raise ValueError('a study needs at least one config')
    runs, seen = [], {}
    for config in configs:
        path = config_file(config)
        if path.stem in seen:
            raise ValueError(f'two configs share the name {path.stem!r}: {seen[path.stem]} and '
                             f'{config}; their work dirs would collide')
        seen[path.stem] = config
        runs.append(StudyRun(path, Path(work_root) / path.stem))
    return runs


# --- child processes ------------------------------------------------------------------------
def _redirect_output(log_path: str) -> None:
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    sys.stderr.reconfigure(line_buffering=True)  # type: ignore[union-attr]


def _share_cpu(parallel: int) -> None:
    """Give each of ``parallel`` processes its share of the CPU cores (torch's default, all
    cores in every process, oversubscribes them)."""
    if parallel > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // parallel))


def _train_child(config: str, work_dir: str, resume: bool, amp: bool,
                 cfg_options: Optional[dict], log_path: str, parallel: int = 1) -> None:
    _redirect_output(log_path)
    _share_cpu(parallel)
    import ghostdet  # noqa: F401  (registrations, safe checkpoint loading)
    from ..apis.runner import build_train_config, train

    train(build_train_config(config, work_dir, 'auto' if resume else None, amp,
                             cfg_options=cfg_options))


def _test_child(config: str, checkpoint: str, work_dir: str, cfg_options: Optional[dict],
                metrics_path: str, log_path: str, parallel: int = 1,
                predictions_path: Optional[str] = None) -> None:
    _redirect_output(log_path)
    _share_cpu(parallel)
    import ghostdet  # noqa: F401
    from ..apis.runner import build_test_config, test

    metrics = test(build_test_config(config, checkpoint, work_dir, predictions_path,
                                     cfg_options=cfg_options))
    write_json(Path(metrics_path), {k: float(v) for k, v in metrics.items()})


@dataclass
class Job:
    """A child process of a stage: what to run, and what to do when it ends."""
    run: StudyRun
    target: Callable
    args: tuple
    log: Path
    on_exit: Callable[[int], None]
    on_start: Callable[[], None] = lambda: None
    status: Callable[[], str] = lambda: ''
    process: Any = None
    started: float = 0.0


def run_jobs(jobs: Sequence[Job], parallel: int = 1, progress: Progress = _print,
             every_s: float = 30.0, poll_s: float = 1.0,
             heartbeat: Optional[Callable[[Job, float], None]] = None) -> Dict[str, int]:
    """Run ``jobs`` in spawned processes, at most ``parallel`` at a time; a progress line every
    ``every_s`` seconds. Returns each run's exit code by name."""
    if parallel < 1:
        raise ValueError(f'parallel must be positive, but got {parallel!r}')
    ctx = mp.get_context('spawn')
    pending, running, codes = list(jobs), [], {}
    last = time.time()
    try:
        while pending or running:
            while pending and len(running) < parallel:
                job = pending.pop(0)
                job.process = ctx.Process(target=job.target, args=job.args,
                                          name=f'ghostdet-{job.run.name}')
                job.on_start()
                job.started = time.time()
                running.append(job)  # before it starts: an interrupt must find it to stop it
                job.process.start()
                if progress is not None:
                    progress(f'  {job.run.name}: pid {job.process.pid}, log {job.log}')
            time.sleep(poll_s)
            now = time.time()
            for job in list(running):
                if heartbeat is not None:
                    heartbeat(job, now)
                if job.process.exitcode is None:
                    continue
                running.remove(job)
                code = codes[job.run.name] = job.process.exitcode
                job.on_exit(code)
                if progress is not None:
                    result = 'done' if code == 0 else f'FAILED (exit {code}), see {job.log}'
                    progress(f'  {job.run.name}: {result} after {now - job.started:.0f} s')
            if progress is not None and running and now - last >= every_s:
                last = now
                states = '; '.join(f'{j.run.name} {j.status()}'.strip() for j in running)
                progress(f'  [{len(codes)}/{len(jobs)} finished, {len(pending)} waiting] '
                         f'{states}')
    finally:
        started = [job for job in running if job.process.pid is not None]
        for job in started:  # interrupted: stop the children; their checkpoints stay
            job.process.terminate()
        for job in started:
            job.process.join(30)
            if job.process.exitcode is None:
                job.process.kill()
    return codes


def _touch_attempt(run: StudyRun, now: float, always: bool = False) -> None:
    """Move the end of the newest training attempt to ``now`` (at most once a second)."""
    path = run.path('train_time.json')
    attempts = read_json(path)
    if attempts and (always or int(now) != int(attempts[-1]['end'])):
        attempts[-1]['end'] = now
        write_json(path, attempts)


_EPOCH = re.compile(rb'Epoch\(train\)\s*\[(\d+)\]')
_ITER = re.compile(rb'Iter\(train\)\s*\[\s*(\d+)/')


def last_logged_epoch(log: Path) -> Optional[int]:
    """The newest ``Epoch(train) [N]`` (or ``Iter(train) [N/..]``) in the tail of a log."""
    if not log.is_file():
        return None
    with open(log, 'rb') as f:
        f.seek(max(0, log.stat().st_size - 16384))
        tail = f.read()
    found = _EPOCH.findall(tail) or _ITER.findall(tail)
    return int(found[-1]) if found else None


def class_names(cfg: Any) -> Tuple[str, ...]:
    dataset = cfg.test_dataloader.dataset
    return tuple((dataset.get('metainfo') or {}).get('classes') or ())


def annotated_test_images(cfg: Any) -> List[Tuple[str, List[Tuple[List[float], int]]]]:
    """``(image path, [(xyxy box, label index), ...])`` of the config's test split, by image id.
    Labels index the config's classes (COCO category ids are mapped by name)."""
    dataset = cfg.test_dataloader.dataset
    root = dataset.get('data_root', '') or ''
    with open(osp.join(root, dataset.ann_file), encoding='utf-8') as f:
        coco = json.load(f)
    classes = class_names(cfg)
    label_of = {c['id']: classes.index(c['name']) for c in coco['categories']
                if c['name'] in classes}
    boxes: Dict[int, list] = {}
    for ann in coco['annotations']:
        if ann['category_id'] in label_of and not ann.get('iscrowd', 0):
            x, y, w, h = ann['bbox']
            boxes.setdefault(ann['image_id'], []).append(([x, y, x + w, y + h],
                                                          label_of[ann['category_id']]))
    prefix = osp.join(root, dataset.get('data_prefix', {}).get('img', ''))
    return [(osp.join(prefix, img['file_name']), boxes.get(img['id'], []))
            for img in sorted(coco['images'], key=lambda i: i['id'])]


# --- stages --------------------------------------------------------------------------------
@dataclass
class Study:
    """A study: configs, shared overrides and the settings of every stage.

    Args:
        configs (Sequence[str]): Config files; every run is trained and tested the same way.
        work_root (str): Parent of the runs' work dirs.
        cfg_options (dict, optional): Overrides applied to every config (train and test).
        amp (bool): Mixed-precision training (CUDA).
        parallel (int): Trainings at once.
        device (str): Device of the measure stage (``'cuda'`` or ``'cpu'``).
        shape (Sequence[int]): ``(H, W)`` of the MACs and speed measurements.
        batch_sizes (Sequence[int]): Inference batch sizes.
        runs, warmup (int): Timed and untimed runs of each speed measurement.
        threads (int, optional): Torch CPU threads of the measure stage.
        progress (Callable[[str], None], optional): Progress lines.
        command (str, optional): The command line of this study process, kept with what
            its stages write (``session`` in ``train_done.json`` and ``measure.json``), so a
            report assembled from runs of several sessions names each one's command.
    """
    configs: Sequence[str]
    work_root: str
    cfg_options: Optional[dict] = None
    amp: bool = False
    parallel: int = 1
    device: str = 'cpu'
    shape: Sequence[int] = (480, 640)
    batch_sizes: Sequence[int] = (1, 8)
    runs: int = 50
    warmup: int = 10
    threads: Optional[int] = None
    progress: Progress = _print
    every_s: float = 30.0
    command: Optional[str] = None
    runs_: List[StudyRun] = field(init=False)
    started_: str = field(init=False)

    def __post_init__(self) -> None:
        self.runs_ = plan_runs(self.configs, self.work_root)
        self.started_ = time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())

    def session(self) -> dict:
        """Where and how this study process runs: its start, command, machine (and its boot,
        which tells one machine from another of its kind), GPU and versions; recorded with each
        run's training and measurement."""
        import mmcv
        import mmdet

        from .compare import machine_description
        try:
            with open('/proc/sys/kernel/random/boot_id', encoding='utf-8') as f:
                boot_id: Optional[str] = f.read().strip()
        except OSError:
            boot_id = None
        return dict(started=self.started_, command=self.command, boot_id=boot_id,
                    machine=machine_description(), gpu=cuda_description(),
                    versions=f'mmcv {mmcv.__version__}, mmdet {mmdet.__version__}')

    def config(self, run: StudyRun) -> Any:
        from ..apis.builder import load_config
        return load_config(str(run.config), self.cfg_options)

    def by_run(self) -> List['Study']:
        """This study as one study per run, same settings and same session record: running
        each through the stages before the next finishes every run in turn (where checkpoints
        do not outlive the machine, a run trained but not yet tested is lost)."""
        studies = []
        for run in self.runs_:
            single = replace(self, configs=[str(run.config)])
            single.started_ = self.started_  # one study process: one session
            studies.append(single)
        return studies

    def say(self, message: str) -> None:
        if self.progress is not None:
            self.progress(message)

    # train -----------------------------------------------------------------------------------
    def train(self) -> Dict[str, int]:
        """Train every run not done yet (resuming those with checkpoints)."""
        from ..apis.runner import check_config_inputs
        todo = [r for r in self.runs_ if not r.done('train')]
        configs = {run.name: self.config(run) for run in todo}
        for run in todo:  # a missing file or a model that does not fit, before any training
            check_config_inputs(configs[run.name], str(run.config), DATALOADERS, weights=True)
        self.say(f'train: {len(self.runs_) - len(todo)} of {len(self.runs_)} already trained, '
                 f'{len(todo)} to go, {self.parallel} at a time')
        jobs = []
        for run in todo:
            run.work_dir.mkdir(parents=True, exist_ok=True)
            resume = run.has_checkpoints()
            max_epochs = configs[run.name].train_cfg.get('max_epochs')
            jobs.append(
                Job(run, _train_child,
                    (str(run.config), str(run.work_dir), resume, self.amp, self.cfg_options,
                     str(run.train_log), min(self.parallel, len(todo))), run.train_log,
                    on_exit=self._train_finished(run),
                    on_start=self._train_started(run, resume),
                    status=self._epoch_status(run, max_epochs)))
        return run_jobs(jobs, self.parallel, self.progress, self.every_s,
                        heartbeat=lambda job, now: _touch_attempt(job.run, now))

    def _train_started(self, run: StudyRun, resume: bool) -> Callable[[], None]:
        def on_start() -> None:
            attempts = read_json(run.path('train_time.json')) or []
            now = time.time()
            attempts.append(dict(start=now, end=now, resumed=resume))
            write_json(run.path('train_time.json'), attempts)
            self.say(f'  {run.name}: {"resuming" if resume else "starting"}')
        return on_start

    @staticmethod
    def _epoch_status(run: StudyRun, max_epochs: Optional[int]) -> Callable[[], str]:
        def status() -> str:
            epoch = last_logged_epoch(run.train_log)
            return f'epoch {epoch or 0}/{max_epochs}' if max_epochs else ''
        return status

    def _train_finished(self, run: StudyRun) -> Callable[[int], None]:
        def on_exit(code: int) -> None:
            _touch_attempt(run, time.time(), always=True)
            if code != 0:
                return
            pointer = run.path('last_checkpoint')
            checkpoint = pointer.read_text().strip() if pointer.is_file() else ''
            if not osp.isfile(checkpoint):
                self.say(f'  {run.name}: finished but its final checkpoint {checkpoint!r} is '
                         'missing; not marked done')
                return
            write_json(run.result_path('train'),
                       dict(checkpoint=checkpoint, amp=self.amp, cfg_options=self.cfg_options,
                            parallel=self.parallel, device=cuda_description() or 'cpu',
                            session=self.session()))
        return on_exit

    # test --------------------------------------------------------------------------------------
    def test(self) -> Dict[str, int]:
        """Evaluate each trained run's final checkpoint on the config's test split."""
        todo = [r for r in self.runs_ if r.done('train') and not r.done('test')]
        skipped = [r.name for r in self.runs_ if not r.done('train')]
        self.say(f'test: {len(todo)} to evaluate' +
                 (f'; not trained: {", ".join(skipped)}' if skipped else ''))
        jobs = [
            Job(run, _test_child,
                (str(run.config), run.train_done['checkpoint'], str(run.path('test')),
                 self.cfg_options, str(run.result_path('test')), str(run.path('test.log')),
                 min(self.parallel, len(todo)), str(run.predictions)),
                run.path('test.log'), on_exit=lambda code: None) for run in todo
        ]
        codes = run_jobs(jobs, self.parallel, self.progress, self.every_s)
        self.keep_picture_detections()
        return codes

    def keep_picture_detections(self) -> None:
        """Detections of every tested run on the first test image (``picture_dets.json``), so
        that the report's picture can be drawn where the checkpoints are not."""
        tested = [r for r in self.runs_ if r.done('train') and r.done('test')]
        if not tested:
            return
        image = annotated_test_images(self.config(tested[0]))[0][0]
        for run in tested:
            picture_detections(self, run, image)  # a no-op where they are kept already

    # measure -----------------------------------------------------------------------------------
    def measure(self, force: bool = False) -> None:
        """Cost and speed of each trained run, one model at a time."""
        for run in self.runs_:
            if not run.done('train'):
                self.say(f'measure: {run.name} is not trained; skipped')
                continue
            if run.done('measure') and not force:
                continue
            self.say(f'measure: {run.name}')
            write_json(run.result_path('measure'), self.measure_run(run))

    def measure_run(self, run: StudyRun) -> dict:
        """Params, MACs and inference / training speed of one run (see the module doc)."""
        from mmengine.optim import build_optim_wrapper

        from ..analysis.complexity import detector_complexity
        from ..analysis.latency import benchmark_module, benchmark_train_step, num_threads
        from ..apis.builder import build_detector
        from ..models.synthetic_inputs import synthetic_batch, synthetic_train_batch

        cfg = self.config(run)
        timing = dict(runs=self.runs, warmup=self.warmup, device=self.device,
                      progress=self.progress)
        amps = [False, True] if str(self.device).startswith('cuda') else [False]
        with num_threads(self.threads) as threads:
            model = build_detector(cfg, checkpoint=run.train_done['checkpoint'],
                                   device=self.device)
            total = detector_complexity(model, self.shape, with_mmengine=True)[-1]
            inference = []
            for batch_size in self.batch_sizes:
                inputs, samples = synthetic_batch(model, self.shape, batch_size)
                for amp in amps:
                    result = benchmark_module(model, (inputs, samples), mode='predict', amp=amp,
                                              name=f'{run.name} infer', **timing)
                    inference.append(_latency_dict(result))
            del model
            train_batch = cfg.train_dataloader.batch_size
            train_amp = self.amp and str(self.device).startswith('cuda')
            model = build_detector(cfg, device=self.device)
            optim_cfg = dict(cfg.optim_wrapper)
            if train_amp:
                optim_cfg.update(type='AmpOptimWrapper', loss_scale='dynamic')
            optim_wrapper = build_optim_wrapper(model, optim_cfg)
            classes = (cfg.get('train_dataloader').dataset.get('metainfo') or {}).get('classes')
            data = synthetic_train_batch(model, self.shape, train_batch,
                                         num_classes=len(classes) if classes else 1)
            training = benchmark_train_step(model, data, optim_wrapper,
                                            name=f'{run.name} train', **timing)
        return dict(session=self.session(),
                    params=total.params, macs=total.macs, flops_mmengine=total.mmengine_flops,
                    shape=list(self.shape), device=training.device, threads=threads,
                    inference=inference, train=_latency_dict(training))

    # where it stands ---------------------------------------------------------------------------
    def left(self, stages: Sequence[str] = STAGES[:3]) -> Dict[str, List[str]]:
        """The runs each of ``stages`` (of train, test, measure) still has to do, by stage;
        a stage with nothing left is absent."""
        left = {stage: [r.name for r in self.runs_ if not r.done(stage)]
                for stage in stages if stage in StudyRun.RESULT_FILES}
        return {stage: names for stage, names in left.items() if names}

    def standing(self, stages: Sequence[str] = STAGES[:3]) -> str:
        """One line: how many runs each of ``stages`` has done, and which are left (``all N``
        where none is done)."""
        stages = [stage for stage in stages if stage != 'report']
        left, total = self.left(stages), len(self.runs_)
        done = ', '.join(f'{stage} {total - len(left.get(stage, []))}/{total}'
                         for stage in stages)
        todo = '; '.join(f'{stage}: ' + (f'all {total}' if len(names) == total else
                                          ', '.join(names)) for stage, names in left.items())
        return f'done: {done}. ' + (f'Left to do: {todo}.' if left else 'Nothing left to do.')

    def marks(self) -> tuple:
        """What a call of the study can leave behind: the work left and each run's newest
        checkpoint. Equal before and after a call: it finished nothing and saved nothing."""
        newest = []
        for run in self.runs_:
            pointer = run.path('last_checkpoint')
            newest.append(pointer.read_text().strip() if pointer.is_file() else None)
        return (sorted((stage, tuple(names)) for stage, names in self.left().items()),
                tuple(newest))

    def pack(self, path: Path) -> List[str]:
        """Write every run's folder, without its checkpoints, to the tar.gz ``path``: what
        the report stage needs (the JSON files, ``test_predictions.pkl``, the logs), for runs
        trained on a machine the checkpoints cannot leave. Member names start at the run's
        folder, so ``mkdir -p WORK_ROOT; tar xzf PATH -C WORK_ROOT`` puts them back. Returns
        the runs packed: those with a file to pack (a run folder holding nothing but
        checkpoints, or nothing, is left out)."""
        def left_out(name: str, file_or_folder: bool) -> bool:
            return (name.endswith(('.pth', '.tmp')) or name == 'last_checkpoint'
                    or not file_or_folder)

        def keep(info: tarfile.TarInfo) -> Optional[tarfile.TarInfo]:
            return None if left_out(Path(info.name).name, info.isfile() or info.isdir()) else info

        packed, data = [], io.BytesIO()
        with tarfile.open(fileobj=data, mode='w:gz') as tar:
            for run in self.runs_:
                if run.work_dir.is_dir() and any(
                        path.is_file() and not path.is_symlink() and not left_out(path.name, True)
                        for path in run.work_dir.rglob('*')):
                    tar.add(run.work_dir, arcname=run.name, filter=keep)
                    packed.append(run.name)
        atomic_write(data.getvalue(), path)
        return packed


def picture_detections(study: Study, run: StudyRun, image_path: str) -> Dict[str, Any]:
    """A trained run's detections (``bboxes``, ``scores``, ``labels``) on one image, kept by
    image name in ``<work_dir>/picture_dets.json``.

    The study keeps them for the first test image when it tests a run, so a report can be
    assembled from the runs' small JSON files alone (e.g. runs trained on other machines and
    copied back without their checkpoints). An image not kept yet needs the checkpoint.

    Raises:
        FileNotFoundError: Neither the kept detections for this image nor the checkpoint exist.
    """
    from mmdet.apis import inference_detector, init_detector

    name = osp.basename(image_path)
    kept = read_json(run.path('picture_dets.json')) or {}
    if name in kept:
        return kept[name]
    checkpoint = run.train_done['checkpoint']
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(
            f'{run.name}: drawing {name} needs its checkpoint {checkpoint} (not found) or '
            f'its detections on that image in {run.path("picture_dets.json")} (kept when the '
            'run is tested)')
    model = init_detector(study.config(run), checkpoint, device=study.device)
    pred = inference_detector(model, image_path).pred_instances.cpu()
    kept[name] = dict(bboxes=pred.bboxes.tolist(), scores=pred.scores.tolist(),
                      labels=pred.labels.tolist())
    write_json(run.path('picture_dets.json'), kept)
    return kept[name]


def _latency_dict(result: Any) -> dict:
    return dict(batch_size=result.batch_size, amp=result.amp, device=result.device,
                ms_per_image=result.ms_per_image, p10_ms=result.p10_ms / result.batch_size,
                p90_ms=result.p90_ms / result.batch_size, images_per_s=result.images_per_s,
                runs=result.runs, warmup=result.warmup)


def cuda_description() -> Optional[str]:
    """E.g. ``'NVIDIA H200, CUDA 13.0'``; None without CUDA."""
    if not torch.cuda.is_available():
        return None
    return f'{torch.cuda.get_device_name()}, CUDA {torch.version.cuda}'
