"""Shared by the package's tests."""
import torch

# Every device test runs on the CPU, and on CUDA where a GPU is (ci/gpu-python.sh).
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
