"""Library side of ``tools/train.py`` and ``tools/test.py``: config handling and the Runner."""
import copy
import os
import os.path as osp
from typing import Optional, Sequence

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner, find_latest_checkpoint

from ..datasets.checks import check_config_num_classes, check_data_files
from ..models.inference_options import InferenceOptions
from ..models.structure import check_channels, check_config_channels
from ..models.utils import check_weight_files
from ..utils.config import config_file
from .builder import load_config

PROGRESS_HOOK = dict(type='ProgressBarHook')
TRAIN_SPLITS = ('train_dataloader', 'val_dataloader')


def check_config_inputs(cfg: Config, config: str, splits: Sequence[str] = TRAIN_SPLITS,
                        weights: bool = False) -> None:
    """What a tool checks in its config before the Runner exists, each mistake one error
    naming the setting: the data files of the dataloaders ``splits``
    (:func:`~ghostdet.datasets.check_data_files`), with ``weights`` the ``Pretrained`` and
    ``load_from`` files (:func:`~ghostdet.models.utils.check_weight_files`), the neck against
    the backbone and the heads against the neck (:func:`~ghostdet.models.check_config_channels`)
    and the head's classes against those datasets'
    (:func:`~ghostdet.datasets.check_config_num_classes`)."""
    check_data_files(cfg, config, splits)
    if weights:
        check_weight_files(cfg, config)
    check_config_channels(cfg, config)
    check_config_num_classes(cfg, config, splits)


def build_run_config(config: str,
                     work_dir: Optional[str] = None,
                     cfg_options: Optional[dict] = None,
                     launcher: str = 'none',
                     training: bool = False) -> Config:
    """``config`` as :func:`~ghostdet.apis.load_config` reads it, with what a Runner takes
    from the tools: the launcher and the work dir.

    The work dir follows mmdet's precedence: ``work_dir`` argument > the config's
    ``work_dir`` > ``./work_dirs/<config name>``. ``training``: say on stderr where the
    options change the training length but not the learning-rate schedule.
    """
    path = config_file(config)
    cfg = load_config(path, cfg_options, training)
    cfg.launcher = launcher
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', path.stem)
    return cfg


def setup_cpu_distributed(cfg: Config) -> None:
    """Let ``--launcher pytorch`` run on CPU-only machines (gloo): mmengine's ``init_dist``
    calls ``torch.cuda.set_device`` and wraps DDP with ``device_ids=[LOCAL_RANK]``, both of
    which fail without CUDA, so start the process group here and pass ``device_ids=None``."""
    if cfg.launcher == 'none' or torch.cuda.is_available():
        return
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    cfg.env_cfg = dict(cfg.get('env_cfg', {}), dist_cfg=dict(backend='gloo'))
    wrapper = dict(cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel'))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    cfg.pop('sync_bn', None)  # SyncBatchNorm needs CUDA


def build_runner(cfg: Config) -> Runner:
    """The config's Runner, its model checked by
    :func:`ghostdet.models.structure.check_channels` before any step runs."""
    setup_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    check_channels(runner.model)
    return runner


def latest_checkpoint(work_dir: str) -> Optional[str]:
    """The newest ``.pth`` in ``work_dir``. mmengine's ``find_latest_checkpoint`` trusts the
    ``last_checkpoint`` pointer, which ``CheckpointHook`` writes after the checkpoint, so a run
    killed in between would resume from the one before. Checkpoints are written atomically
    (``ghostdet.utils.atomic_io``), so every ``.pth`` there is complete."""
    if not osp.isdir(work_dir):
        return None
    paths = [osp.join(work_dir, f) for f in os.listdir(work_dir) if f.endswith('.pth')]
    return max(paths, key=osp.getmtime) if paths else find_latest_checkpoint(work_dir)


def build_train_config(config: str,
                       work_dir: Optional[str] = None,
                       resume: Optional[str] = None,
                       amp: bool = False,
                       auto_scale_lr: bool = False,
                       cfg_options: Optional[dict] = None,
                       launcher: str = 'none') -> Config:
    """The config ``tools/train.py`` trains with.

    Args:
        resume: None (start fresh, or ``load_from`` of the config), ``'auto'`` (the newest
            checkpoint in the work dir, see :func:`latest_checkpoint`) or a checkpoint path.
        amp: Mixed precision (``AmpOptimWrapper``); needs a CUDA device.
        auto_scale_lr: Scale the learning rate by the actual batch size over
            ``auto_scale_lr.base_batch_size``.
    """
    cfg = build_run_config(config, work_dir, cfg_options, launcher, training=True)
    if amp:
        if not torch.cuda.is_available():
            raise RuntimeError('--amp needs a CUDA device (mmengine AmpOptimWrapper); '
                               'none is available here')
        if cfg.optim_wrapper.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
            print('AMP is already enabled in the config')
        else:
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    if auto_scale_lr:
        if not cfg.get('auto_scale_lr') or 'base_batch_size' not in cfg.auto_scale_lr:
            raise KeyError('--auto-scale-lr needs `auto_scale_lr = dict(enable=..., '
                           'base_batch_size=...)` in the config')
        cfg.auto_scale_lr.enable = True
    if resume == 'auto':
        cfg.resume = True
        cfg.load_from = latest_checkpoint(cfg.work_dir)  # None: nothing to resume, start fresh
    elif resume is not None:
        if not osp.isfile(resume):
            raise FileNotFoundError(f'--resume checkpoint not found: {resume}')
        cfg.resume = True
        cfg.load_from = resume
    hooks = list(cfg.get('custom_hooks') or [])
    if cfg.get('resume') and not any(h.get('type') == 'ResumeScheduleHook' for h in hooks):
        cfg.custom_hooks = hooks + [dict(type='ResumeScheduleHook')]  # the config's schedule
    return cfg


def shutdown_distributed() -> None:
    """Wait for every rank, then destroy the process group. mmengine never does; a process that
    exits with a live gloo group can abort in its destructor (SIGABRT, "terminate called
    without an active exception") after the work is done, failing the whole torchrun job."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def train(cfg: Config) -> Runner:
    runner = build_runner(cfg)
    runner.train()
    shutdown_distributed()
    return runner


def build_test_config(config: str,
                      checkpoint: str,
                      work_dir: Optional[str] = None,
                      out: Optional[str] = None,
                      show_dir: Optional[str] = None,
                      cfg_options: Optional[dict] = None,
                      launcher: str = 'none',
                      fuse_conv_bn: bool = False,
                      tta: bool = False,
                      options: Optional[InferenceOptions] = None) -> Config:
    """The config ``tools/test.py`` evaluates ``checkpoint`` with (see :func:`configure_test`).
    An ``.onnx`` file (``tools/deployment/pytorch2onnx.py``) is refused here: its config is
    :func:`ghostdet.deployment.build_onnx_test_config`'s, which ``tools/test.py`` chooses for
    it."""
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    if checkpoint.endswith('.onnx'):
        raise ValueError(f'{checkpoint} is an exported ONNX model, not a checkpoint: its test '
                         'config is ghostdet.deployment.build_onnx_test_config\'s (tools/test.py '
                         'chooses it for a .onnx file)')
    cfg = build_run_config(config, work_dir, cfg_options, launcher)
    cfg.load_from = checkpoint
    return configure_test(cfg, out, show_dir, fuse_conv_bn, tta, options)


def configure_test(cfg: Config,
                   out: Optional[str] = None,
                   show_dir: Optional[str] = None,
                   fuse_conv_bn: bool = False,
                   tta: bool = False,
                   options: Optional[InferenceOptions] = None) -> Config:
    """What ``tools/test.py`` adds to ``cfg`` (its model and ``load_from`` set; changed in
    place and returned): COCO metrics from the config's ``test_evaluator``, raw results to
    ``out`` (``.pkl``), pictures with boxes to ``show_dir``, a progress bar, a check that the
    checkpoint's weights cover the model (:class:`ghostdet.engine.CheckpointKeysHook`, where
    ``load_from`` is set) and, with ``fuse_conv_bn``, the model's BatchNorms folded into its
    convolutions (:class:`ghostdet.engine.FuseConvBNHook`). ``tta``: with test-time
    augmentation (:func:`add_test_time_augmentation`). ``options``: the model run with these
    inference options, each checked against its fp32 eager outputs first
    (:class:`ghostdet.engine.InferenceOptionsHook`; ``fuse_conv_bn`` joins them)."""
    if tta:
        print(add_test_time_augmentation(cfg), flush=True)
    if show_dir is not None:
        vis = cfg.default_hooks.get('visualization')
        if vis is None:
            raise KeyError('--show-dir needs a `visualization` hook in default_hooks')
        if vis.get('type') in ('DetVisualizationHook', 'mmdet.DetVisualizationHook'):
            vis.type = 'FileNameVisualizationHook'  # cam1/0001.jpg, cam2/0001.jpg: two pictures
        vis.draw = True
        vis.test_out_dir = osp.abspath(show_dir)
    if out is not None:
        if not out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl file, got {out}')
        evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [
            cfg.test_evaluator
        ]
        cfg.test_evaluator = list(evaluators) + [dict(type='DumpDetResults', out_file_path=out)]
    hooks = list(cfg.get('custom_hooks', []))
    if not any(h.get('type') == PROGRESS_HOOK['type'] for h in hooks):
        hooks.append(dict(PROGRESS_HOOK))
    # a checkpoint of another architecture would load where it matches (mmengine's
    # strict=False) and be tested half random: refused, whatever the config's hooks
    if cfg.load_from and not any(h.get('type') == 'CheckpointKeysHook' for h in hooks):
        hooks.append(dict(type='CheckpointKeysHook'))
    if cfg.load_from and not any(h.get('type') == 'ReparameterizeHook' for h in hooks):
        hooks.append(dict(type='ReparameterizeHook'))  # GhostNetV3: tested as deployed
    options = options or InferenceOptions()
    fuse_conv_bn = fuse_conv_bn or options.fuse_bn
    if set(options.enabled) - {'fuse_bn'}:  # one hook folds, then applies the others
        flags = {name: True for name in options.enabled}
        hooks.append(dict(type='InferenceOptionsHook', **dict(flags, fuse_bn=fuse_conv_bn)))
    elif fuse_conv_bn and not any(h.get('type') == 'FuseConvBNHook' for h in hooks):
        hooks.append(dict(type='FuseConvBNHook'))
    cfg.custom_hooks = hooks
    return cfg


FLIP_META_KEYS = ('flip', 'flip_direction')
DEFAULT_TTA_MODEL = dict(type='DetTTAModel',
                         tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5), max_per_img=100))


def add_test_time_augmentation(cfg: Config) -> str:
    """Test ``cfg`` with test-time augmentation, as mmdet's ``tools/test.py --tta`` does: the
    config's ``tta_model`` around its model (else mmdet's ``DetTTAModel``, the boxes of all
    views merged by NMS at IoU 0.5, 100 per image) and its ``tta_pipeline`` for the test
    dataset (else its test pipeline with each image seen as it is and flipped left-right).
    Unlike mmdet's, the default pipeline keeps the test pipeline's ``meta_keys`` (adding the
    flip's, which the merge needs to flip boxes back), and a wrapped test dataset (e.g.
    ``ClassBalancedDataset``) gets it on the dataset that has the pipeline. Returns a line
    that says which augmentation."""
    dataset = cfg.test_dataloader.dataset
    while 'dataset' in dataset:
        dataset = dataset.dataset
    if 'pipeline' not in dataset:
        raise ValueError(f"--tta sets the test dataset's pipeline, and {dataset.get('type')} "
                         "has none (a ConcatDataset's datasets have one each): test them one "
                         'at a time')
    said = []
    if cfg.get('tta_pipeline') is None:
        pipeline = copy.deepcopy(list(dataset.pipeline))
        pack = pipeline[-1] if pipeline else {}
        if pack.get('type') not in ('PackDetInputs', 'mmdet.PackDetInputs'):
            raise ValueError('--tta without a `tta_pipeline` in the config flips the test '
                             "pipeline's images, which must end with PackDetInputs; this one "
                             f"ends with {pack.get('type')!r}: give the config a tta_pipeline")
        if 'meta_keys' in pack:
            pack['meta_keys'] = tuple(pack['meta_keys']) + tuple(
                k for k in FLIP_META_KEYS if k not in pack['meta_keys'])
        pipeline[-1] = dict(type='TestTimeAug',
                            transforms=[[dict(type='RandomFlip', prob=1.),
                                         dict(type='RandomFlip', prob=0.)], [pack]])
        cfg.tta_pipeline = pipeline
        said.append('each test image as it is and flipped left-right')
    else:
        said.append("the config's tta_pipeline")
    if cfg.get('tta_model') is None:
        cfg.tta_model = copy.deepcopy(DEFAULT_TTA_MODEL)
        said.append('their boxes merged by NMS at IoU 0.5, 100 per image (DetTTAModel)')
    else:
        said.append(f"their boxes merged by the config's tta_model ({cfg.tta_model.get('type')})")
    cfg.model = dict(**cfg.tta_model, module=cfg.model)
    dataset.pipeline = cfg.tta_pipeline
    return 'testing with test-time augmentation: ' + ', '.join(said)


def test(cfg: Config) -> dict:
    """Run the test loop; return the metrics."""
    runner = build_runner(cfg)
    metrics = runner.test()
    shutdown_distributed()
    return metrics

