"""Deployment readiness: latency, memory and size profiles, the INT8 trial, torch-to-ONNX export.

Pure library functions with no knowledge of the plan; `evalaction.stages.readiness` wires them to it.
Submodules import onnx, onnxruntime and torch inside their functions.
"""
