"""The published side of a study (:mod:`ghostdet.study.study`): a markdown results table,
a picture of one test image with each model's detections side by side, each model's errors by
class (:mod:`ghostdet.analysis.confusion`), the runs' learning curves, and the summary lines of
every training log. Everything here reads what the runs wrote; nothing is typed in."""
import datetime
import json
import os.path as osp
import re
import shlex
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..analysis.figures import log_y, save_figure
from ..utils.atomic_io import atomic_write
from .study import Study, StudyRun, annotated_test_images, class_names, picture_detections

_TRAIN_LINE = re.compile(r'Epoch\(train\)\s*\[(\d+)\]')
_NUMBER = r'([-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|nan|inf))'
_LOSS = re.compile(r'\sloss:\s*' + _NUMBER)
_VAL_MAP = re.compile(r'Epoch\(val\)\s*\[(\d+)\].*\scoco/bbox_mAP:\s*' + _NUMBER)
_KEEP = ('Epoch(val)', 'Epoch(test)', 'bbox_mAP_copypaste', 'Traceback', 'Error')
PICTURE_SCORE = 0.3  # the score from which the picture and the errors table count a detection


def summarize_log(log: Path, out: Path) -> int:
    """Copy a training log's summary lines to ``out``: the last ``Epoch(train)`` line of each
    epoch (losses, lr, time), every validation / test result and any error. Returns the
    number of lines written."""
    lines = log.read_text(encoding='utf-8', errors='replace').splitlines()
    last_of_epoch: Dict[str, int] = {}
    keep = set()
    for i, line in enumerate(lines):
        found = _TRAIN_LINE.search(line)
        if found:
            last_of_epoch[found.group(1)] = i
        elif any(k in line for k in _KEEP):
            keep.add(i)
    keep.update(last_of_epoch.values())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text('\n'.join(lines[i] for i in sorted(keep)) + '\n', encoding='utf-8')
    return len(keep)


def log_curves(log: Path) -> Tuple[Dict[int, float], Dict[int, float]]:
    """Learning curves from an mmengine training log (or its :func:`summarize_log` summary):
    ``(loss, val_mAP)``, each by epoch. ``loss`` is the ``loss:`` of each epoch's last
    ``Epoch(train)`` line (smoothed as :func:`loss_smoothing` says); ``val_mAP`` the
    ``coco/bbox_mAP`` of each validated epoch. Where a resumed run logged an epoch again, its
    later line wins."""
    loss: Dict[int, float] = {}
    val: Dict[int, float] = {}
    for line in log.read_text(encoding='utf-8', errors='replace').splitlines():
        train = _TRAIN_LINE.search(line)
        found = _LOSS.search(line) if train else None
        if found:
            loss[int(train.group(1))] = float(found.group(1))
            continue
        found = _VAL_MAP.search(line)
        if found:
            val[int(found.group(1))] = float(found.group(2))
    return loss, val


def loss_smoothing(cfg: Any) -> str:
    """What the logged ``loss`` of an mmengine config is, in words: ``log_processor``'s
    smoothing (its ``window_size``, or a ``custom_cfg`` entry that overrides it for ``loss``),
    read at each epoch's last log line."""
    processor = cfg.get('log_processor') or {}
    method, window = 'mean', processor.get('window_size', 10)
    for item in processor.get('custom_cfg') or []:
        if item.get('data_src') == 'loss' and item.get('log_name', 'loss') == 'loss':
            method, window = item.get('method_name', method), item.get('window_size', window)
    if method == 'current':
        return "the last iteration's loss at each epoch's last log line"
    if window == 'epoch':
        return f"{method} over each epoch up to its last log line"
    if window == 'global':
        return f'{method} since the first iteration, at each epoch\'s last log line'
    return f"{method} of the last {window} iterations at each epoch's last log line"


def learning_curves(study: Study, out: Path) -> bool:
    """Draw every run's training loss and validation bbox mAP against the epoch, side by side,
    into ``out`` (from the runs' ``train.log``). Returns False, writing nothing, where no run
    has logged an epoch yet."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    curves = [(short_name(run.name), *log_curves(run.train_log))
              for run in study.runs_ if run.train_log.is_file()]
    curves = [c for c in curves if c[1] or c[2]]
    if not curves:
        return False
    fig, (loss_ax, map_ax) = plt.subplots(1, 2, figsize=(13, 4.8), sharex=True)
    styles = ['-', '--', ':', '-.']
    for i, (name, loss, val) in enumerate(curves):
        style = dict(color=f'C{i % 10}', linestyle=styles[i // 10 % len(styles)], label=name)
        epochs = sorted(loss)
        loss_ax.plot(epochs, [loss[e] for e in epochs], marker='.' if len(epochs) < 30 else None,
                     **style)
        epochs = sorted(val)  # unclipped markers show mAP 0, but an empty unclipped line
        # (no validation yet) would fill the figure in tight_layout's eyes, squashing the axes
        map_ax.plot(epochs, [val[e] for e in epochs], marker='o', clip_on=not val, **style)
    loss_ax.set_title(f'training loss ({loss_smoothing(study.config(study.runs_[0]))})',
                      fontsize=9)
    map_ax.set_title('validation bbox mAP (val split)', fontsize=9)
    for ax, label in ((loss_ax, 'loss'), (map_ax, 'bbox mAP')):
        ax.set_xlabel('epoch')
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    log_y(loss_ax)
    map_ax.set_ylim(bottom=0)
    # whole epochs from 0 on (matplotlib would span a lone epoch with fractional ticks)
    map_ax.set_xlim(0, max(max([*loss, *val]) for _, loss, val in curves) + 1)
    map_ax.legend(fontsize=7, loc='lower right')
    save_figure(fig, out)
    return True


def titled(image: np.ndarray, title: str, width: int) -> np.ndarray:
    """``image`` scaled to ``width`` under a white title bar (black text)."""
    import cv2

    scale = width / image.shape[1]
    image = cv2.resize(image, (width, round(image.shape[0] * scale)),
                       interpolation=cv2.INTER_AREA)
    bar = np.full((28, width, 3), 255, np.uint8)
    cv2.putText(bar, title, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([bar, image])


def tile(panels: Sequence[np.ndarray], columns: int) -> np.ndarray:
    """Panels of one size in a grid, row by row; empty cells white."""
    height, width = panels[0].shape[:2]
    rows = -(-len(panels) // columns)
    grid = np.full((rows * height, columns * width, 3), 255, np.uint8)
    for i, panel in enumerate(panels):
        r, c = divmod(i, columns)
        grid[r * height:(r + 1) * height, c * width:(c + 1) * width] = panel
    return grid


def side_by_side(study: Study, out: Path, image: Optional[str] = None,
                 score_thr: float = PICTURE_SCORE, columns: int = 4, panel_width: int = 400) -> str:
    """One test image: ground truth, then each trained run's detections (score >=
    ``score_thr``) with its test mAP, in a grid written to ``out``. ``image`` defaults to the
    first test image (lowest id). Returns the image's path.

    What the panels draw (their titles, boxes, labels and scores) is written beside the
    picture, to ``out`` with a ``.json`` extension: the picture's pixels depend on the
    machine's image codecs and drawing libraries, that record does not, so a rebuilt picture
    can be checked against a published one."""
    import cv2
    import mmcv
    import torch
    from mmdet.structures import DetDataSample
    from mmdet.visualization import DetLocalVisualizer
    from mmengine.structures import InstanceData

    trained = [r for r in study.runs_ if r.done('train')]
    if not trained:
        raise RuntimeError('no trained run to draw')
    cfg = study.config(trained[0])
    images = annotated_test_images(cfg)
    if image is None:
        path, gt = images[0]
    else:
        match = [item for item in images if osp.basename(item[0]) == osp.basename(image)]
        if not match:
            raise FileNotFoundError(f'{image} is not in the test split of {trained[0].config}')
        path, gt = match[0]
    picture = mmcv.imread(path, channel_order='rgb')
    visualizer = DetLocalVisualizer(name=f'ghostdet_study_{id(study)}')  # no backends: no files
    visualizer.dataset_meta = dict(classes=class_names(cfg))

    drawn = []

    def panel(sample: DetDataSample, instances: InstanceData, title: str,
              **kwargs: Any) -> np.ndarray:
        visualizer.add_datasample(title, picture, sample, show=False, **kwargs)
        for_json = {key: instances.get(key) for key in ('labels', 'scores', 'bboxes')
                    if key in instances}  # in this order (InstanceData's is a set's)
        drawn.append(dict(title=title, **{
            key: value.double().numpy().round(4).tolist() if value.is_floating_point() else
            value.tolist() for key, value in for_json.items()}))
        return titled(visualizer.get_image(), title, panel_width)

    truth = InstanceData(
        bboxes=torch.tensor([b for b, _ in gt], dtype=torch.float32).reshape(-1, 4),
        labels=torch.tensor([lab for _, lab in gt], dtype=torch.long))
    panels = [panel(DetDataSample(gt_instances=truth), truth,
                    f'ground truth ({len(gt)} boxes)', draw_pred=False)]
    for run in trained:
        dets = picture_detections(study, run, path)
        found = InstanceData(
            bboxes=torch.tensor(dets['bboxes'], dtype=torch.float32).reshape(-1, 4),
            scores=torch.tensor(dets['scores'], dtype=torch.float32),
            labels=torch.tensor(dets['labels'], dtype=torch.long))
        found = found[found.scores >= score_thr]  # as the errors table counts them
        mAP = (run.metrics or {}).get('coco/bbox_mAP')
        title = short_name(run.name) + (f'  mAP {mAP:.3f}' if mAP is not None else '')
        # mmdet's pred_score_thr would keep the scores above it only: all are drawn
        panels.append(panel(DetDataSample(pred_instances=found), found, title, draw_gt=False,
                            pred_score_thr=-1.0))
    out.parent.mkdir(parents=True, exist_ok=True)
    grid = tile(panels, min(columns, len(panels)))
    if not cv2.imwrite(str(out), np.ascontiguousarray(grid[..., ::-1])):  # RGB -> BGR
        raise OSError(f'could not write {out}')
    record = json.dumps(dict(image=osp.basename(path), classes=class_names(cfg),
                             score_thr=score_thr, panels=drawn), indent=1)
    # one line per box: the innermost lists (a box, a panel's labels or scores) are not split
    record = re.sub(r'\[[^\[\]{}]*\]', lambda m: ' '.join(m.group(0).split()), record)
    atomic_write(record.encode('utf-8'), out.with_suffix('.json'))
    return path


def short_name(name: str) -> str:
    """``retinanet_ghostnet-1.0x_fpn_50e_bccd`` -> ``retinanet_ghostnet-1.0x_fpn``."""
    return re.sub(r'_\d+e_.*$', '', name)


def _fmt(value: Optional[float], digits: int = 3) -> str:
    return '-' if value is None else f'{value:.{digits}f}'


def _duration(seconds: float) -> str:
    minutes, sec = divmod(int(round(seconds)), 60)
    return f'{minutes} min {sec:02d} s' if minutes else f'{sec} s'


def _session_key(session: dict) -> str:
    # one machine boot is one session, whatever number of study processes it ran
    return session.get('boot_id') or f'{session["started"]} {session["machine"]}'


def sessions(study: Study) -> List[Tuple[dict, Dict[str, List[str]]]]:
    """The sessions (machine boots) whose study processes trained or measured the runs, oldest
    first, as recorded in the runs' ``train_done.json`` / ``measure.json``: ``(session,
    {'trained': [runs], 'measured': [runs]})``, the session's ``commands`` gathered from all
    its processes. Runs written before sessions were recorded count in none."""
    found: Dict[str, Tuple[dict, Dict[str, List[str]]]] = {}
    for run in study.runs_:
        for role, record in (('trained', run.train_done), ('measured', run.measure)):
            session = (record or {}).get('session')
            if not session:
                continue
            first, roles = found.setdefault(_session_key(session),
                                            (dict(session, commands=[]), {}))
            if session['started'] < first['started']:
                first.update(started=session['started'])
            if session.get('command') and session['command'] not in first['commands']:
                first['commands'].append(session['command'])
            roles.setdefault(role, []).append(short_name(run.name))
    return sorted(found.values(), key=lambda item: item[0]['started'])


def _measure_session(study: Study, run: StudyRun) -> str:
    session = (run.measure or {}).get('session')
    if not session:
        return '-'
    keys = [_session_key(s) for s, _ in sessions(study)]
    return str(keys.index(_session_key(session)) + 1)


def results_table(study: Study) -> str:
    """Markdown: per run, params, MACs, test bbox mAP / mAP@50 / per-class AP, training and
    inference images/s and training wall time. A row is a trained run: where it is not
    tested or measured, its cells show ``-`` and the last column says why. Runs not trained
    have no row (a row of dashes is no result); a line under the table names them. Where
    speeds come from more than one session, a column numbers the session that measured each
    run."""
    measured_in = [s for s, roles in sessions(study) if roles.get('measured')]
    classes = class_names(study.config(study.runs_[0]))
    speeds: List[Tuple[int, bool]] = []
    for run in study.runs_:
        for entry in (run.measure or {}).get('inference', []):
            if (entry['batch_size'], entry['amp']) not in speeds:
                speeds.append((entry['batch_size'], entry['amp']))
    shape = next((r.measure['shape'] for r in study.runs_ if r.measure), study.shape)
    head = (['model', 'params (M)', f'GMACs {shape[0]}x{shape[1]}', 'bbox mAP', 'mAP@50'] +
            [f'AP {c}' for c in classes] + ['train img/s'] +
            [f'infer img/s b{b} {"AMP" if a else "fp32"}' for b, a in speeds] +
            (['speed machine'] if len(measured_in) > 1 else []) +
            ['train wall time', 'status'])
    lines = ['| ' + ' | '.join(head) + ' |', '|---|' + '---:|' * (len(head) - 2) + '---|']
    trained = [r for r in study.runs_ if r.done('train')]  # config order
    for run in trained:
        metrics, measure = run.metrics, run.measure or {}
        infer = {(e['batch_size'], e['amp']): e for e in measure.get('inference', [])}
        status = ('not tested' if metrics is None else
                  'no test detections above score_thr' if not metrics else
                  'not measured' if not measure else 'ok')
        metrics = metrics or {}
        cells = [short_name(run.name),
                 _fmt(measure['params'] / 1e6 if measure else None, 3),
                 _fmt(measure['macs'] / 1e9 if measure else None, 2),
                 _fmt(metrics.get('coco/bbox_mAP')), _fmt(metrics.get('coco/bbox_mAP_50'))]
        cells += [_fmt(metrics.get(f'coco/{c}_precision')) for c in classes]
        cells.append(_fmt(measure['train']['images_per_s'], 1) if measure else '-')
        cells += [_fmt(infer[k]['images_per_s'], 1) if k in infer else '-' for k in speeds]
        if len(measured_in) > 1:
            cells.append(_measure_session(study, run))
        cells += [_duration(run.train_seconds), status]
        lines.append('| ' + ' | '.join(cells) + ' |')
    untrained = [short_name(r.name) for r in study.runs_ if r not in trained]
    if untrained:
        lines += ['', 'Not trained, so not in the table: ' +
                  ', '.join(f'`{name}`' for name in untrained) + '.']
    return '\n'.join(lines)


def setup_lines(study: Study) -> List[str]:
    """What every run shares (schedule, batch, optimizer, seed), read from the configs; a
    setting that differs between runs is listed per run."""
    facts: Dict[str, Dict[str, str]] = {}
    for run in study.runs_:
        cfg = study.config(run)
        optim = cfg.optim_wrapper.optimizer
        values = {
            'epochs': str(cfg.train_cfg.get('max_epochs', cfg.train_cfg.get('max_iters'))),
            'train batch size': str(cfg.train_dataloader.batch_size),
            'optimizer': f'{optim.type} lr {optim.lr}',
            'seed': str((cfg.get('randomness') or {}).get('seed')),
            'load_from / pretrained': str(cfg.get('load_from') or _init_cfg(cfg) or
                                          'none (from scratch)'),
        }
        for key, value in values.items():
            facts.setdefault(key, {})[run.name] = value
    lines = []
    for key, per_run in facts.items():
        if len(set(per_run.values())) == 1:
            lines.append(f'- {key}: {next(iter(per_run.values()))}')
        else:
            lines.append(f'- {key}: ' + ', '.join(f'{short_name(n)} {v}'
                                                   for n, v in per_run.items()))
    return lines


def errors_table(study: Study, iou_thr: float = 0.5,
                 score_thr: float = PICTURE_SCORE) -> Optional[str]:
    """Per run and class: the test boxes found, confused with another class and missed, and
    the detections that match no box, from each run's ``test_predictions.pkl``
    (:func:`ghostdet.analysis.confusion.test_set_confusion`); None when no run kept them."""
    from ..analysis.confusion import test_set_confusion

    lines: List[str] = []
    for run in study.runs_:
        if not run.predictions.is_file():
            continue
        matrix, classes = test_set_confusion(study.config(run), str(run.predictions), iou_thr,
                                             score_thr, progress=False)
        n = len(classes)
        if not lines:
            head = (['model'] + [f'{c}: found / confused / missed' for c in classes] +
                    [f'no box ({" / ".join(classes)})'])
            lines = ['| ' + ' | '.join(head) + ' |', '|---|' + '---:|' * (len(head) - 1)]
        cells = [f'{matrix[i, i]} / {matrix[i, :n].sum() - matrix[i, i]} / {matrix[i, n]}'
                 for i in range(n)]
        cells.append(' / '.join(str(v) for v in matrix[n, :n]))
        lines.append('| ' + ' | '.join([short_name(run.name)] + cells) + ' |')
    return '\n'.join(lines) if lines else None


def _init_cfg(cfg: Any) -> Optional[str]:
    init = cfg.model.backbone.get('init_cfg')
    return str(init.get('checkpoint')) if init and init.get('type') == 'Pretrained' else None


def _relative(path: str) -> str:
    """``path`` relative to the working directory when it lies inside it (commands in a report
    should work from any checkout)."""
    rel = osp.relpath(path)
    return path if rel.startswith('..') else rel


def check_trained_options(study: Study) -> None:
    """The report reads the setup from the configs with ``study.cfg_options``: refuse where a
    run was trained with other overrides (e.g. a report without the ``--cfg-options`` that
    shortened the runs would claim the configs' full schedule). The runs keep their options
    as JSON, so they are compared as JSON: a tuple such as ``(320, 240)`` is kept as a list."""
    asked = json.loads(json.dumps(study.cfg_options or {}))
    for run in study.runs_:
        if not run.train_done:
            continue
        trained_with = run.train_done.get('cfg_options') or {}
        if trained_with != asked:
            raise ValueError(
                f'{run.name} was trained with --cfg-options {trained_with or "(none)"}, but the '
                f'report is asked for {study.cfg_options or "(none)"}: pass the same options')


def write_report(study: Study, path: Path, command: str, picture: Optional[Path] = None,
                 picture_image: Optional[str] = None, logs_dir: Optional[Path] = None,
                 title: str = 'Study results', intro: str = '',
                 curves: Optional[Path] = None) -> str:
    """Write the markdown report of ``study`` to ``path`` and return it; copy the log summaries
    to ``logs_dir`` and link the picture ``picture`` and the learning curves ``curves``
    (:func:`side_by_side`, :func:`learning_curves`) where they exist."""
    import mmcv
    import mmdet
    import torch

    from .compare import machine_description

    check_trained_options(study)
    done = [r for r in study.runs_ if r.train_done]
    measured = next((r.measure for r in study.runs_ if r.measure), None)
    parallel = {r.train_done.get('parallel') for r in done}
    rel = lambda p: osp.relpath(p, path.parent)  # noqa: E731
    out = [f'# {title}', '']
    if intro:
        out += [intro.strip(), '']
    out += [
        f'Written by `ghostdet.study.report` on {datetime.date.today().isoformat()} from the '
        'runs under `' + study.work_root + '`; every number below was measured by the command '
        'in "Commands".', '', '## Setup', ''
    ]
    out += setup_lines(study)
    out += [f'- training device: {", ".join(sorted({r.train_done["device"] for r in done}))}; '
            f'{", ".join(str(p) for p in sorted(parallel))} run(s) trained at once'
            + (' (sharing it)' if max(parallel, default=1) > 1 else '') +
            (', mixed precision (AMP)' if any(r.train_done.get('amp') for r in done) else
             ', fp32')]
    recorded = sessions(study)
    if recorded:
        out.append('- machines (one boot each) whose study processes trained and measured the '
                   'runs:')
        for number, (session, roles) in enumerate(recorded, 1):
            work = '; '.join(f'{role}: {", ".join(names)}' for role, names in roles.items())
            out.append(f'  {number}. {session["started"]}, {session["machine"]}'
                       f'{", " + session["gpu"] if session.get("gpu") else ""}, '
                       f'{session["versions"]}. {work}')
        measuring = sum(1 for _, roles in recorded if roles.get('measured'))
        if measuring > 1:
            out.append(f'- speeds were measured on {measuring} machines: compare them within a '
                       'machine (table column "speed machine")')
    else:
        out.append(f'- machine: {machine_description()}; mmcv {mmcv.__version__}, mmdet '
                   f'{mmdet.__version__}, torch {torch.__version__}')
    out.append('- evaluation: each run\'s final checkpoint on the test split (COCO bbox metrics; '
               'nothing chosen on test)')
    if measured:
        out += [f'- speed: measured one model at a time on {measured["device"]} '
                f'(torch CPU threads: {measured["threads"]}) at {measured["shape"][0]}x'
                f'{measured["shape"][1]}, synthetic inputs; inference = `model.predict` with '
                'the trained weights (network, box decoding, NMS), median of '
                f'{measured["train"]["runs"]} runs after {measured["train"]["warmup"]} warm-up; '
                'train img/s = whole training iterations (preprocess, forward, loss, backward, '
                'optimizer step) at the config\'s batch size, data loading excluded',
                '- MACs: paper convention (conv + linear multiply-accumulates), whole detector, '
                '1000 RoIs for a two-stage RoI head']
    out += ['', '## Results', '', results_table(study), '']
    if picture is not None and picture.is_file():
        out += ['## One test image', '',
                f'`{osp.basename(picture_image or "")}`: ground truth, then each model\'s '
                f'detections with score >= {PICTURE_SCORE:g}.', '',
                f'![side by side]({rel(picture)})', '']
    errors = errors_table(study)
    if errors is not None:
        out += ['## Errors by class', '',
                f'The test split as tested (a class\'s three counts add up to its boxes), '
                f'detections with score >= {PICTURE_SCORE:g}. A detection '
                'takes the free box of its own class that it overlaps most (IoU >= 0.5), else '
                'one of another class (the box is then "confused"). "No box" counts, by '
                'predicted class, the detections left: on nothing, or a second detection of a '
                'box already found. Each box and detection is counted once. One run as a '
                'matrix: `python tools/analysis/confusion_matrix.py CONFIG '
                '<work dir>/test_predictions.pkl`.', '', errors, '']
    if curves is not None and curves.is_file():
        out += ['## Learning curves', '',
                'Training loss and validation bbox mAP of each run against the epoch, read '
                'from its training log (the summaries are in "Training logs").', '',
                f'![learning curves]({rel(curves)})', '']
    out += ['## Commands', '', '```', command, '```', '']
    if recorded:
        out += ['The machines above ran:', '', '```']
        out += [f'{ran}  # machine {number}'
                for number, (session, _) in enumerate(recorded, 1)
                for ran in session['commands']]
        out += ['```', '']
    at_once = ', several at once' if max(parallel, default=1) > 1 else ''
    out += [f'Each run is what these do (the study runs them as library calls{at_once}):', '',
            '```']
    options = ''
    if study.cfg_options:
        options = ' --cfg-options ' + ' '.join(
            shlex.quote(f'{k}={v}') for k, v in study.cfg_options.items())
    for run in study.runs_:
        amp = run.train_done.get('amp') if run.train_done else study.amp  # as it was trained
        out.append(f'python tools/train.py {run.config} --work-dir {run.work_dir}'
                   f'{" --amp" if amp else ""}{options}')
        checkpoint = (_relative(run.train_done['checkpoint']) if run.train_done else
                      '<final checkpoint>')
        out.append(f'python tools/test.py {run.config} {checkpoint} --work-dir '
                   f'{run.path("test")} --out {run.predictions}{options}')
    out += ['```', '']
    if logs_dir is not None:
        out += ['## Training logs', '',
                'Summary lines (last iteration of each epoch, validation and test results):', '']
        for run in study.runs_:
            if run.train_log.is_file():
                target = logs_dir / f'{run.name}.log'
                summarize_log(run.train_log, target)
                out.append(f'- [{run.name}]({rel(target)})')
        out.append('')
    text = '\n'.join(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding='utf-8')
    return text
