"""Deployment: export a detector's network to ONNX, check it, quantize it to int8, and run it
with onnxruntime."""
from .onnx import (DenseNetwork, ONNXModule, ONNXNetwork, ONNXRuntimeDetector,
                   build_onnx_test_config, check_exported_from, check_onnx, export_detector,
                   export_module, export_onnx, init_onnx_detector, onnx_test_model)
from .quantize import CalibrationImages, export_for_timing, quantize_detector, quantize_onnx

__all__ = [
    'DenseNetwork', 'ONNXModule', 'ONNXNetwork', 'ONNXRuntimeDetector', 'build_onnx_test_config',
    'check_exported_from', 'check_onnx', 'export_detector', 'export_module', 'export_onnx',
    'init_onnx_detector', 'onnx_test_model', 'CalibrationImages',
    'export_for_timing', 'quantize_detector', 'quantize_onnx'
]
