"""Deployment: export a detector's network to ONNX, check it, and run it with onnxruntime."""
from .onnx import (DenseNetwork, ONNXNetwork, ONNXRuntimeDetector, check_exported_from,
                   check_onnx, export_detector, export_onnx, onnx_test_model)

__all__ = [
    'DenseNetwork', 'ONNXNetwork', 'ONNXRuntimeDetector', 'check_exported_from', 'check_onnx',
    'export_detector', 'export_onnx', 'onnx_test_model'
]
