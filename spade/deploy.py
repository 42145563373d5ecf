"""Runtimes a network is deployed in: eager PyTorch, channels-last and ONNX Runtime.

A pruned network is only as fast as the runtime that runs it: eager PyTorch's NCHW
convolutions run some narrower widths no faster than wider ones, where a deployment
runtime (ONNX Runtime's CPU provider, with its blocked NCHWc kernels) turns the cut in
MACs into time. :func:`deployed` gives a copy of a network whose priors run in a runtime
while the physics and the solver (unrolled steps, Anderson) stay in torch; the priors are
exported with ``torch.onnx`` at the first input shape they meet and checked against torch
before they are used. In the iteration, ONNX Runtime reads its input where torch holds it
and writes its output into a torch tensor (I/O binding: no copy either way); the export
check and :func:`export` pass zero-copy numpy views.
"""

from __future__ import annotations

import copy
import io
import os
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from spade.runtimes import (CHANNELS_LAST, EAGER, EXTRA, ONNX_RUNTIMES, ONNXRUNTIME, ONNXRUNTIME_CUDA,  # noqa: F401
                            PROVIDERS, RUNTIMES, available, check_runtime, missing_packages)

# an exported prior or network must match torch to this fraction of the output's range
TOLERANCE = 1e-4


class ExportError(RuntimeError):
    """A module ``torch.onnx`` cannot export, or whose export does not match torch."""


def onnx_bytes(module: nn.Module, args: tuple) -> bytes:
    """The ONNX model of ``module`` called on ``args`` (static shapes: ONNX Runtime plans
    its kernels for them). An operation the exporter lacks is an :class:`ExportError`
    naming the module and the operation; eager PyTorch still runs it."""
    buf = io.BytesIO()
    module = module.eval()
    try:
        # tracing records ordinary tensors: copies of inputs made under inference mode
        with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
            args = tuple(a.clone() for a in args)
            # the TorchScript exporter, deprecated for the dynamo one, which needs onnxscript and
            # took 4.0 s per EDSR-64 prior here against 0.07 s (each variant exports at each
            # shape it is timed at); both give these CNNs' convolution graphs
            warnings.simplefilter("ignore")
            torch.onnx.export(module, args, buf, dynamo=False, input_names=[f"in{i}" for i in range(len(args))],
                              output_names=["out"], opset_version=17)
    except Exception as err:  # the exporter raises many types; each names the operation
        raise ExportError(f"torch.onnx cannot export {type(module).__name__}: {err} (runtime {EAGER!r} "
                          f"still runs it: leave the ONNX runtimes out of benchmark.runtimes)") from err
    return buf.getvalue()


def _feed(sess, args, module: nn.Module) -> dict:
    """ONNX Runtime's inputs: zero-copy numpy views of ``args``, by the session's names (an
    export that traced an input into a constant has fewer inputs, and is refused)."""
    names = [i.name for i in sess.get_inputs()]
    if len(names) != len(args):
        raise ExportError(f"the export of {type(module).__name__} takes {len(names)} of its {len(args)} inputs: "
                          f"an operation left the traced graph (runtime {EAGER!r} still runs it)")
    return {n: a.detach().contiguous().numpy() for n, a in zip(names, args)}


def session(model_bytes: bytes, runtime: str = ONNXRUNTIME, threads: int | None = None):
    """An ONNX Runtime session of ``model_bytes`` with all graph optimisations, sequential
    execution and ``threads`` intra-op threads (default: torch's thread count, so that both
    runtimes are timed on the same cores)."""
    check_runtime(runtime)
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.intra_op_num_threads = int(threads or torch.get_num_threads())
    opts.inter_op_num_threads = 1
    # no spin-waiting after a call: every variant holds sessions with threads of their own, and
    # spinning ones steal the cores from the next call, torch's or another session's (2-core VM,
    # eight sessions of EDSR priors: the 64-channel prior ran 49-55 ms per call in eager PyTorch
    # beside them spinning, 22-24 ms without; the 16-channel one 5.7-5.9 ms in ONNX Runtime, 1.8-1.9)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return ort.InferenceSession(model_bytes, opts, providers=[PROVIDERS[runtime]])


def max_difference(reference: torch.Tensor, other: torch.Tensor) -> float:
    """The largest absolute difference as a fraction of the reference's range."""
    scale = float(reference.max() - reference.min()) or 1.0
    return float((reference - other).abs().max()) / scale


class OrtModule(nn.Module):
    """A module that runs ``module`` in ONNX Runtime: exported, and checked against torch
    within :data:`TOLERANCE`, at each new input shape. ONNX Runtime reads the float32 input
    where torch holds it and writes its output into a torch tensor (I/O binding on the CPU
    or the GPU: no copy either way; a non-contiguous input is made contiguous first)."""

    def __init__(self, module: nn.Module, runtime: str = ONNXRUNTIME, threads: int | None = None):
        super().__init__()
        check_runtime(runtime)
        self.module = module.eval()
        self.runtime, self.threads = runtime, threads
        self._sessions: dict[tuple, object] = {}
        self.max_difference = 0.0

    def _model_bytes(self, examples: tuple) -> bytes:
        """The ONNX model a session of these input shapes runs."""
        return onnx_bytes(self.module, examples)

    def _check(self, diff: float) -> None:
        if not diff <= TOLERANCE:
            raise ExportError(f"{type(self.module).__name__} in {self.runtime} differs from torch by {diff:.2e} "
                              f"of the output range (tolerance {TOLERANCE:g})")

    def _session(self, args: tuple):
        key = tuple(tuple(a.shape) for a in args)
        if key not in self._sessions:
            examples = tuple(a.detach().cpu().clone() for a in args)
            sess = session(self._model_bytes(examples), self.runtime, self.threads)
            with torch.inference_mode():
                reference = self.module(*examples)
            out = torch.from_numpy(sess.run(None, _feed(sess, examples, self.module))[0])
            diff = max_difference(reference, out)
            self._check(diff)
            self.max_difference = max(self.max_difference, diff)
            self._sessions[key] = (sess, [i.name for i in sess.get_inputs()], sess.get_outputs()[0].name,
                                   tuple(out.shape))
        return self._sessions[key]

    def __deepcopy__(self, memo):
        # sessions do not pickle: a copy exports anew at its first call of each shape
        return OrtModule(copy.deepcopy(self.module, memo), self.runtime, self.threads)

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        if not all(isinstance(a, torch.Tensor) for a in args):
            raise ExportError(f"{type(self.module).__name__} takes a non-tensor argument; ONNX Runtime runs priors of "
                              f"tensors only (runtime {EAGER!r} still runs it)")
        if torch.is_grad_enabled() and any(a.requires_grad for a in args):
            raise RuntimeError("an ONNX Runtime prior runs inference only (no gradients)")
        args = tuple(a.detach().float().contiguous() for a in args)
        sess, names_in, name_out, shape_out = self._session(args)
        device = args[0].device
        out = torch.empty(shape_out, dtype=torch.float32, device=device)
        kind, index = ("cuda", device.index or 0) if device.type == "cuda" else ("cpu", 0)
        binding = sess.io_binding()
        for name, a in zip(names_in, args):
            binding.bind_input(name, kind, index, np.float32, list(a.shape), a.data_ptr())
        binding.bind_output(name_out, kind, index, np.float32, list(shape_out), out.data_ptr())
        if kind == "cuda":
            torch.cuda.current_stream(device).synchronize()  # torch's writes land before ONNX Runtime reads
        sess.run_with_iobinding(binding)
        return out


def quantized_onnx_bytes(module: nn.Module, calibration: list[torch.Tensor]) -> bytes:
    """``module`` (one tensor in, one out) as an INT8 ONNX model: ONNX Runtime's static
    quantization in QDQ format, weights per output channel (signed), activations unsigned
    with ranges calibrated (min-max) on ``calibration``, inputs the module met on the data
    the caller chose (the study: training measurements). Exported with free height and
    width, so that one calibration serves every image size."""
    import tempfile

    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    if not calibration:
        raise ValueError("INT8 quantization needs calibration inputs (none given)")
    module = module.eval()
    buf = io.BytesIO()
    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        example = calibration[0].detach().cpu().float().clone()
        torch.onnx.export(module, (example,), buf, dynamo=False, input_names=["in0"], output_names=["out"],
                          opset_version=17, dynamic_axes={"in0": {0: "b", 2: "h", 3: "w"},
                                                          "out": {0: "b", 2: "h", 3: "w"}})

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter([{"in0": t.detach().cpu().float().contiguous().numpy()} for t in calibration])

        def get_next(self):
            return next(self.items, None)

    import logging

    quiet = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # its advice to pre-process the graph, at every call
    with tempfile.TemporaryDirectory() as tmp:
        source, target = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        source.write_bytes(buf.getvalue())
        quantize_static(str(source), str(target), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
        logging.getLogger().setLevel(quiet)
        return target.read_bytes()


class QuantizedOrtModule(OrtModule):
    """A prior run as its INT8 model (:func:`quantized_onnx_bytes`) in ONNX Runtime, inside
    torch's iteration like :class:`OrtModule`. Its output is not torch's within
    :data:`TOLERANCE` (that is the point of quantizing): the largest difference met is
    recorded in ``max_difference``, and what it costs in PSNR is measured, not assumed."""

    def __init__(self, module: nn.Module, calibration: list[torch.Tensor], runtime: str = ONNXRUNTIME,
                 threads: int | None = None):
        super().__init__(module, runtime, threads)
        self.calibration = [c.detach().cpu() for c in calibration]
        self._int8: bytes | None = None

    def _model_bytes(self, examples: tuple) -> bytes:
        if self._int8 is None:  # one quantized model, free height and width, for every shape
            self._int8 = quantized_onnx_bytes(self.module, self.calibration)
        return self._int8

    def _check(self, diff: float) -> None:
        pass  # recorded, not refused

    def __deepcopy__(self, memo):
        return QuantizedOrtModule(copy.deepcopy(self.module, memo), self.calibration, self.runtime, self.threads)


def quantized(model: nn.Module, calibration: dict[int, list[torch.Tensor]], runtime: str = ONNXRUNTIME,
              threads: int | None = None) -> nn.Module:
    """A copy of ``model`` whose priors run INT8 in ONNX Runtime (:class:`QuantizedOrtModule`),
    prior ``i`` calibrated on ``calibration[i]`` (:func:`prior_inputs`)."""
    check_runtime(runtime)
    copied = copy.deepcopy(model).eval()
    for i, prior in enumerate(copied.priors()):
        replace_module(copied, prior, QuantizedOrtModule(prior, calibration[i], runtime, threads))
    return copied


def prior_inputs(model: nn.Module, run, limit: int = 64) -> dict[int, list[torch.Tensor]]:
    """The inputs each prior of ``model`` meets while ``run()`` runs it (the first
    ``limit`` per prior): INT8 calibration data."""
    from spade.hooks import forward_hooks

    priors = model.priors()
    seen: dict[int, list[torch.Tensor]] = {i: [] for i in range(len(priors))}

    def keep(module, inputs, output):
        i = next(k for k, p in enumerate(priors) if p is module)
        if len(seen[i]) < limit:
            seen[i].append(inputs[0].detach().cpu().clone())

    with forward_hooks(priors, after=keep), torch.inference_mode():
        run()
    return seen


def replace_module(model: nn.Module, old: nn.Module, new: nn.Module) -> None:
    """Put ``new`` where ``model`` holds ``old`` (every place it is registered)."""
    for name, parent in list(model.named_modules()):
        for child_name, child in list(parent.named_children()):
            if child is old:
                setattr(parent, child_name, new)


def deployed_prior(prior: nn.Module, runtime: str, threads: int | None = None) -> nn.Module:
    """``prior`` (a module of tensors in, tensor out) as it runs in ``runtime``: itself, a
    channels-last copy, or an :class:`OrtModule`."""
    if runtime == EAGER:
        return prior
    if runtime == CHANNELS_LAST:
        return copy.deepcopy(prior).to(memory_format=torch.channels_last)
    return OrtModule(prior, runtime, threads)


def deployed(model: nn.Module, runtime: str, threads: int | None = None) -> nn.Module:
    """A copy of ``model`` (an MBDL network with ``priors()``) that runs in ``runtime``:
    ``eager`` the network itself, ``channels_last`` NHWC weights, ``onnxruntime`` every prior
    in ONNX Runtime inside torch's iteration. The copy's ``priors()`` (which reads its
    attributes) are the deployed priors, so hooks that time the prior time the runtime."""
    if runtime == EAGER:
        return model
    if runtime == CHANNELS_LAST:
        return copy.deepcopy(model).to(memory_format=torch.channels_last)
    check_runtime(runtime)
    if not any(True for prior in model.priors() for _ in prior.parameters()):
        return model  # no CNN to deploy (the prior-off control: identity priors)
    copied = copy.deepcopy(model).eval()
    old = copied.priors()
    new = [deployed_prior(p, runtime, threads) for p in old]
    for o, n in zip(old, new):
        replace_module(copied, o, n)  # the copy's own priors() now returns them: the timing hooks see them
    return copied


def export(module: nn.Module, args: tuple, path, runtime: str = ONNXRUNTIME, tolerance: float = TOLERANCE) -> float:
    """Write ``module`` called on ``args`` as an ONNX file at ``path`` after checking it:
    ONNX Runtime's output on ``args`` must equal torch's within ``tolerance`` of the output
    range, else nothing is written. Returns that difference."""
    data = onnx_bytes(module, args)
    import onnx

    onnx.checker.check_model(onnx.load_from_string(data))
    sess = session(data, runtime)
    with torch.inference_mode():
        reference = module(*args)
    out = torch.from_numpy(sess.run(None, _feed(sess, tuple(a.cpu() for a in args), module))[0])
    diff = max_difference(reference.detach().cpu(), out)
    if not diff <= tolerance:
        raise ExportError(f"the exported {type(module).__name__} differs from torch by {diff:.2e} of the output "
                          f"range (tolerance {tolerance:g}); nothing written to {path}")
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return diff
