"""Export a single-stage detector's network to ONNX and run it with onnxruntime.

The exported graph is the part a deployment runtime runs: backbone, neck and the dense head's
``forward`` (raw class scores and box deltas per FPN level), with the batch size and image
size left dynamic (or fixed, ``static``). Decoding the boxes and NMS stay in Python:
:class:`ONNXRuntimeDetector` runs the graph with onnxruntime and hands its outputs to the mmdet
head's ``predict_by_feat``, so ``tools/test.py CONFIG model.onnx`` evaluates the exported model
as the PyTorch one is.

onnx, onnxscript (torch's exporter) and onnxruntime are imported only here, when used
(``requirements/deploy.txt``).
"""
import copy
import inspect
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from mmdet.models.detectors import BaseDetector
from mmdet.registry import MODELS
from mmengine.config import Config
from torch import Tensor

from ..models.fuse import relative_difference
from ..models.structure import eval_no_grad
from ..utils.registry import build_model

INPUT_NAME = 'img'
METADATA_KEY = 'ghostdet'  # the file's metadata: output groups, head, classes, static shape


def dense_head(model: nn.Module) -> nn.Module:
    """The dense head whose ``forward`` the exported graph ends with. Raises ValueError for a
    detector without one, or a two-stage detector (its RoI head needs the proposals decoded and
    NMS-ed in between, which this export leaves to Python)."""
    if isinstance(getattr(model, 'roi_head', None), nn.Module) or getattr(model, 'with_rpn',
                                                                         False):
        raise ValueError(
            f'{type(model).__name__} is a two-stage detector: its RoI head runs on proposals '
            'that are decoded and NMS-ed between the stages, which this export does not put in '
            'the graph. Export a single-stage detector (e.g. RetinaNet) instead')
    head = getattr(model, 'bbox_head', None)
    if not isinstance(head, nn.Module) or not hasattr(head, 'predict_by_feat'):
        raise ValueError(f'{type(model).__name__} has no dense `bbox_head` with '
                         '`predict_by_feat`: not an mmdet single-stage detector')
    return head


def output_groups(head: nn.Module, outs: Sequence) -> List[Tuple[str, int]]:
    """``[(name, levels), ...]`` of the head's ``forward`` output: each group is named after
    the ``predict_by_feat`` argument it is passed as (``cls_scores``, ``bbox_preds``, ...)."""
    params = list(inspect.signature(head.predict_by_feat).parameters)
    if len(outs) > len(params):
        raise ValueError(f'{type(head).__name__}.forward returns {len(outs)} groups but '
                         f'predict_by_feat takes {len(params)} arguments')
    return [(name, len(group)) for name, group in zip(params, outs)]


def output_names(groups: Sequence[Tuple[str, int]]) -> List[str]:
    """The graph's output names: ``cls_scores`` over 5 levels gives ``cls_scores_0`` ...
    ``cls_scores_4``."""
    return [f'{name}_{level}' for name, levels in groups for level in range(levels)]


class DenseNetwork(nn.Module):
    """Backbone + neck + dense head ``forward`` of a single-stage detector, outputs flattened
    (group by group, level by level): the graph :func:`export_onnx` writes."""

    def __init__(self, detector: nn.Module) -> None:
        super().__init__()
        self.head = dense_head(detector)
        self.detector = detector

    def forward(self, img: Tensor) -> Tuple[Tensor, ...]:
        outs = self.head(self.detector.extract_feat(img))
        return tuple(t for group in outs for t in group)


def export_onnx(model: nn.Module,
                path: str,
                img: Tensor,
                check_img: Optional[Tensor] = None,
                rtol: float = 1e-4,
                opset: Optional[int] = None,
                classes: Optional[Sequence[str]] = None,
                static: bool = False) -> dict:
    """Write ``model``'s network (:class:`DenseNetwork`) to the ONNX file ``path`` and check it.

    The batch size, height and width are dynamic unless ``static``. The check runs
    ``check_img`` (best another shape than ``img``, so that the dynamic axes are exercised;
    with ``static``, other values of ``img``'s shape) through onnxruntime and through the
    PyTorch model; each output must agree within ``rtol`` of its largest magnitude.

    Args:
        model (nn.Module): An mmdet single-stage detector (in eval mode for export).
        path (str): The ``.onnx`` file to write (weights inside it, no external data).
        img (Tensor): The example batch the graph is traced with, shaped as the data
            preprocessor outputs it (normalised, padded).
        check_img (Tensor, optional): The check's batch. Defaults to ``img``.
        rtol (float): Largest accepted difference of the check. Defaults to 1e-4.
        opset (int, optional): ONNX opset. Defaults to the exporter's.
        classes (Sequence[str], optional): Class names to keep in the file's metadata (the
            demo labels boxes with them). Defaults to None.
        static (bool): Fix the input to ``img``'s shape, for runtimes and converters that
            need static shapes. Defaults to False.

    Returns:
        dict: ``path``, ``outputs`` (names), ``groups``, ``check_diff`` (largest relative
        difference), ``opset`` (as written), ``input`` (its shape, e.g. ``(N, 3, H, W)``) and
        ``size_mb``.

    Raises:
        ValueError: ``model`` is not a single-stage detector, the exporter cannot write
            ``opset``, or the check fails (then nothing is written).
    """
    import onnx

    check_img = img if check_img is None else check_img
    if static and check_img.shape != img.shape:
        raise ValueError(f'a static export takes {tuple(img.shape)} only; check it on a batch '
                         f'of that shape, not {tuple(check_img.shape)}')
    network = DenseNetwork(model)
    part = f'{path}.part'  # becomes ``path`` once checked: no half-written or unchecked file
    try:
        with eval_no_grad(network):
            groups = output_groups(network.head, network.head(model.extract_feat(img)))
            names = output_names(groups)
            dim = torch.export.Dim.DYNAMIC
            torch.onnx.export(
                network, (img, ), part, input_names=[INPUT_NAME], output_names=names,
                dynamo=True, external_data=False, opset_version=opset, verbose=False,
                dynamic_shapes=None if static else ({0: dim, 2: dim, 3: dim}, ))
        graph = onnx.load(part)
        written = max(o.version for o in graph.opset_import if o.domain in ('', 'ai.onnx'))
        if opset is not None and written != opset:  # torch keeps its own when it cannot convert
            raise ValueError(f'torch\'s ONNX exporter could not write opset {opset} for this '
                             f'model (it wrote opset {written}): {path} was not written')
        meta = dict(groups=groups, head=type(network.head).__name__,
                    num_classes=int(getattr(network.head, 'num_classes', -1)),
                    classes=list(classes) if classes else None,
                    static_shape=list(img.shape) if static else None)
        onnx.helper.set_model_props(graph, {METADATA_KEY: json.dumps(meta)})
        onnx.save(graph, part)
        diff = check_onnx(model, part, check_img)
        if diff > rtol:
            raise ValueError(f'the exported graph does not compute what the model computes '
                             f'(outputs differ by up to {diff:.3g} of their magnitude, more '
                             f'than {rtol:g}): {path} was not written')
        os.replace(part, path)
    finally:
        if osp.exists(part):
            os.remove(part)
    shape = 'x'.join(map(str, img.shape)) if static else '(N, 3, H, W)'
    return dict(path=path, outputs=names, groups=groups, check_diff=diff, opset=written,
                input=shape, size_mb=osp.getsize(path) / 2**20)


def check_onnx(model: nn.Module, onnx_model: Union[str, 'ONNXNetwork'], img: Tensor) -> float:
    """The largest difference between the ONNX model's outputs (onnxruntime; a file or an
    opened :class:`ONNXNetwork`) and ``model``'s network on ``img``, relative to each output's
    largest magnitude."""
    network = onnx_model if isinstance(onnx_model, ONNXNetwork) else ONNXNetwork(onnx_model)
    with eval_no_grad(model):
        expected = DenseNetwork(model)(img)
    return relative_difference(expected, network(img))


def check_exported_from(model: nn.Module,
                        onnx_model: Union[str, 'ONNXNetwork'],
                        img: Tensor,
                        rtol: float = 1e-4) -> float:
    """Raise ValueError unless the ONNX model (a file or an opened :class:`ONNXNetwork`)
    computes what ``model`` computes on ``img`` (within ``rtol``, see :func:`check_onnx`):
    before comparing the two, e.g. timing them, make sure they are the same model. Returns the
    difference.

    An int8 file (:func:`~ghostdet.deployment.quantize.quantize_onnx`) differs from its model
    by what quantizing changed, on random images more than on real ones, so only its outputs'
    number and shapes are checked (the same architecture); what it computes is measured by
    ``tools/test.py`` on the test split."""
    network = onnx_model if isinstance(onnx_model, ONNXNetwork) else ONNXNetwork(onnx_model)
    try:
        diff = check_onnx(model, network, img)
    except ValueError as err:
        raise ValueError(f'{network.path} is not an export of this model ({err}): give the '
                         'config and checkpoint it was exported from') from None
    if diff > rtol and not network.meta.get('quantized'):
        raise ValueError(f'{network.path} does not compute what this model computes (outputs '
                         f'differ by up to {diff:.3g} of their magnitude): give the config and '
                         'checkpoint it was exported from')
    return diff


class ONNXNetwork(nn.Module):
    """A graph written by :func:`export_onnx`, run in onnxruntime and called like the
    :class:`DenseNetwork` it was exported from: ``forward(img)`` returns the flat outputs as
    tensors on ``img``'s device (so the latency tools time the two side by side).

    Args:
        path (str): The ``.onnx`` file.
        num_threads (int, optional): onnxruntime's intra-op threads. Defaults to torch's
            (``torch.get_num_threads()``), so the two compare on equal terms.
        providers (list[str], optional): Execution providers. Defaults to CUDA's where
            onnxruntime has it, then the CPU's.
        spinning (bool): Let onnxruntime's idle intra-op threads spin waiting for work (its
            default). False when several sessions (or PyTorch) take turns on the same cores,
            as side-by-side timing does: a session's spinning threads would slow the next
            one's run. No effect with 1 thread. Defaults to True.
    """

    def __init__(self,
                 path: str,
                 num_threads: Optional[int] = None,
                 providers: Optional[List[str]] = None,
                 spinning: bool = True) -> None:
        import onnxruntime as ort

        super().__init__()
        if not osp.isfile(path):
            raise FileNotFoundError(f'ONNX model not found: {path}')
        self.path = path
        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads or torch.get_num_threads()
        if not spinning:
            options.add_session_config_entry('session.intra_op.allow_spinning', '0')
        if not providers:  # not Azure's (remote inference), which this package also lists
            providers = [p for p in ('CUDAExecutionProvider', 'CPUExecutionProvider')
                         if p in ort.get_available_providers()]
        self.session = ort.InferenceSession(path, options, providers=providers)
        props = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in props:
            raise ValueError(f'{path} was not exported by ghostdet (no {METADATA_KEY!r} '
                             'metadata): export it with tools/deployment/pytorch2onnx.py')
        self.meta: Dict = json.loads(props[METADATA_KEY])
        self.groups = [(name, int(levels)) for name, levels in self.meta['groups']]

    def forward(self, img: Tensor) -> Tuple[Tensor, ...]:
        static = self.meta.get('static_shape')
        if static and list(img.shape) != list(static):
            raise ValueError(
                f'{self.path} was exported for inputs of {"x".join(map(str, static))} only '
                f'(static), not {"x".join(map(str, img.shape))}: export it without --static, '
                'or feed it batches of that shape')
        array = img.detach().to('cpu', torch.float32).contiguous().numpy()
        outs = self.session.run(None, {INPUT_NAME: array})
        return tuple(torch.from_numpy(out).to(img.device) for out in outs)

    def grouped(self, img: Tensor) -> Tuple[List[Tensor], ...]:
        """The outputs grouped as the head's ``forward`` returns them."""
        flat = iter(self(img))
        return tuple([next(flat) for _ in range(levels)] for _, levels in self.groups)


class ONNXModule(nn.Module):
    """A network of one image batch in and tensors out, written by :func:`export_module`, run
    by onnxruntime's CPU provider: for timing a backbone next to the module it came from.

    Args:
        path (str): The ``.onnx`` file.
        num_threads (int, optional): onnxruntime's intra-op threads. Defaults to torch's.
    """

    def __init__(self, path: str, num_threads: Optional[int] = None) -> None:
        import onnxruntime as ort

        super().__init__()
        options = ort.SessionOptions()
        options.intra_op_num_threads = num_threads or torch.get_num_threads()
        self.session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
        self.input_name = self.session.get_inputs()[0].name

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        array = x.detach().to('cpu', torch.float32).contiguous().numpy()
        return tuple(torch.from_numpy(out) for out in self.session.run(None,
                                                                        {self.input_name: array}))


def export_module(module: nn.Module, x: Tensor, path: str, rtol: float = 1e-4) -> ONNXModule:
    """Export ``module`` (eval mode; one tensor in, a tensor or a tuple of tensors out) at
    ``x``'s shape to ``path`` and return it in onnxruntime, checked to compute ``module``'s
    outputs within ``rtol`` of their magnitude.

    Raises:
        ValueError: The check fails.
    """
    with eval_no_grad(module):
        torch.onnx.export(module, (x, ), path, input_names=[INPUT_NAME], dynamo=True,
                          external_data=False, verbose=False)
        expected = module(x)
    network = ONNXModule(path)
    expected = tuple(expected) if isinstance(expected, (tuple, list)) else (expected, )
    diff = relative_difference(expected, network(x))
    if diff > rtol:
        raise ValueError(f'{path} does not compute what the module computes (outputs differ '
                         f'by up to {diff:.3g} of their magnitude, more than {rtol:g})')
    return network


@MODELS.register_module()
class ONNXRuntimeDetector(BaseDetector):
    """A single-stage detector whose network runs in onnxruntime from a file written by
    :func:`export_onnx`; the boxes are decoded and NMS-ed by the config's PyTorch head (its
    ``predict_by_feat``, which has no weights to load). Inference only.

    ``tools/test.py CONFIG model.onnx`` swaps the config's model for this one, so the ONNX
    model is tested with the config's data pipeline and evaluator.

    Args:
        onnx_file (str): The ``.onnx`` file.
        detector (dict): The config of the detector that was exported (its ``bbox_head``,
            ``test_cfg`` and ``data_preprocessor`` are used).
        num_threads (int, optional): See :class:`ONNXNetwork`.
        providers (list[str], optional): See :class:`ONNXNetwork`.
    """

    def __init__(self,
                 onnx_file: str,
                 detector: dict,
                 num_threads: Optional[int] = None,
                 providers: Optional[List[str]] = None,
                 init_cfg: Optional[dict] = None) -> None:
        preprocessor = detector.get('data_preprocessor')
        if isinstance(preprocessor, dict):  # built in mmdet's scope whatever the current one
            preprocessor = build_model(preprocessor)
        super().__init__(data_preprocessor=preprocessor, init_cfg=init_cfg)
        head_cfg = dict(detector['bbox_head'])
        head_cfg.update(train_cfg=detector.get('train_cfg'), test_cfg=detector.get('test_cfg'))
        self.bbox_head = build_model(head_cfg)
        self.onnx_file = onnx_file
        self.network = ONNXNetwork(onnx_file, num_threads, providers)
        meta = self.network.meta
        mine = dict(head=type(self.bbox_head).__name__,
                    num_classes=int(getattr(self.bbox_head, 'num_classes', -1)))
        theirs = {key: meta.get(key) for key in mine}
        if mine != theirs:
            raise ValueError(f'{onnx_file} holds a {theirs} but the config builds a {mine}: '
                             'test it with the config it was exported from')

    def predict(self, batch_inputs: Tensor, batch_data_samples: list, rescale: bool = True):
        outs = self.network.grouped(batch_inputs)
        results = self.bbox_head.predict_by_feat(
            *outs, batch_img_metas=[s.metainfo for s in batch_data_samples], rescale=rescale)
        return self.add_pred_to_datasample(batch_data_samples, results)

    def _forward(self, batch_inputs: Tensor, batch_data_samples=None):
        return self.network.grouped(batch_inputs)

    def extract_feat(self, batch_inputs: Tensor):
        raise NotImplementedError('the ONNX graph does not expose the neck\'s features')

    def loss(self, batch_inputs: Tensor, batch_data_samples: list):
        raise NotImplementedError('an ONNX model is for inference only')


def onnx_test_model(detector: dict, onnx_file: str) -> dict:
    """The model config that tests ``onnx_file`` in place of ``detector`` (a config's
    ``model``)."""
    return dict(type='ONNXRuntimeDetector', onnx_file=os.path.abspath(onnx_file),
                detector=detector)


def build_onnx_test_config(config: str,
                           onnx_file: str,
                           work_dir: Optional[str] = None,
                           out: Optional[str] = None,
                           show_dir: Optional[str] = None,
                           cfg_options: Optional[dict] = None,
                           launcher: str = 'none',
                           fuse_conv_bn: bool = False,
                           tta: bool = False) -> Config:
    """The config ``tools/test.py`` evaluates an exported ``onnx_file``
    (``tools/deployment/pytorch2onnx.py``) with: :func:`ghostdet.apis.build_test_config`'s,
    the config's model run from the file in onnxruntime (:class:`ONNXRuntimeDetector`, its
    boxes decoded and NMS-ed by the config's head) and nothing loaded into it.

    Raises:
        FileNotFoundError: No such file.
        ValueError: ``fuse_conv_bn``: the file is tested as it was exported.
    """
    from ..apis.runner import build_run_config, configure_test

    if not osp.isfile(onnx_file):
        raise FileNotFoundError(f'checkpoint not found: {onnx_file}')
    cfg = build_run_config(config, work_dir, cfg_options, launcher)
    if fuse_conv_bn:
        raise ValueError('--fuse-conv-bn folds a PyTorch model; an ONNX model is tested as '
                         'it was exported')
    cfg.model = onnx_test_model(cfg.model, onnx_file)
    cfg.load_from = None
    return configure_test(cfg, out, show_dir, tta=tta)


def init_onnx_detector(config: Union[str, Config], onnx_file: str,
                       device: str = 'cpu') -> nn.Module:
    """mmdet's ``init_detector`` for a model exported by ``tools/deployment/pytorch2onnx.py``
    (what ``tools/demo.py`` runs for an ``.onnx`` file): the config's model runs from
    ``onnx_file`` in onnxruntime (:class:`ONNXRuntimeDetector`), its boxes labelled with the
    class names kept in the file (else the config's test dataset's).

    Args:
        config (str, Path or Config): The config the model was exported from.
        onnx_file (str): The exported file.
        device (str): Defaults to ``'cpu'``.

    Returns:
        nn.Module: The detector, as ``init_detector`` returns it.
    """
    import warnings

    from mmdet.apis import init_detector

    from ..apis.builder import load_config

    cfg = load_config(config)
    cfg.model = onnx_test_model(cfg.model, onnx_file)
    with warnings.catch_warnings():  # there is no checkpoint: the classes are set below
        warnings.filterwarnings('ignore', message='checkpoint is None')
        # cfg_options={}: init_detector otherwise edits cfg.model.backbone, which this lacks
        model = init_detector(cfg, None, device=device, cfg_options={})
    classes = model.network.meta.get('classes')
    if not classes:
        from mmdet.registry import DATASETS
        dataset = copy.deepcopy(cfg.test_dataloader.dataset)
        dataset['lazy_init'] = True
        classes = DATASETS.build(dataset).metainfo.get('classes')
    model.dataset_meta['classes'] = tuple(classes)
    return model


def export_detector(config,
                    checkpoint: str,
                    out: str,
                    shape: Sequence[int] = (800, 1333),
                    cfg_options: Optional[dict] = None,
                    opset: Optional[int] = None,
                    static: bool = False) -> dict:
    """What ``tools/deployment/pytorch2onnx.py`` does: build the config's detector with the
    checkpoint's weights (re-parameterisable modules folded: the deploy form), export it to
    ``out`` traced on a ``shape`` image and check it on a batch of 2 images of 3/4 that size
    (:func:`export_onnx`; with ``static``, the file takes one ``shape`` image, padded as the
    data preprocessor pads, and is checked on another).
    The checkpoint's class names go into the file's metadata.

    Raises:
        FileNotFoundError: No such checkpoint.
        CheckpointMismatchError: The checkpoint's weights do not fit the detector.
        ValueError: ``out`` is not an ``.onnx`` file, the detector is two-stage, or the check
            fails.
    """
    from ..apis.builder import build_detector
    from ..models.synthetic_inputs import synthetic_batch
    from ..models.utils import load_checked_state_dict, reparameterize
    from ..utils.checkpoint import load_local_checkpoint

    if not out.endswith('.onnx'):
        raise ValueError(f'the output must be an .onnx file, got {out}')
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'checkpoint not found: {checkpoint}')
    model = build_detector(config, cfg_options, fold=False)
    dense_head(model)  # a two-stage detector is refused before its checkpoint is read
    load_checked_state_dict(model, checkpoint)  # all of the weights, or refuse
    reparameterize(model)  # GhostNetV3: exported in its deploy form (logged)
    meta = load_local_checkpoint(checkpoint, map_location='cpu').get('meta') or {}
    classes = meta.get('dataset_meta', {}).get('classes')
    height, width = (int(v) for v in shape)
    img, _ = synthetic_batch(model, (height, width))
    check_shape = (height, width) if static else (height * 3 // 4, width * 3 // 4)
    check_img, _ = synthetic_batch(model, check_shape, batch_size=1 if static else 2, seed=1)
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    return export_onnx(model, out, img, check_img, opset=opset, classes=classes, static=static)
