"""Hardware-aware widths (``round_to="auto"``): each dependency group keeps the width that
runs fastest on this device at or above the number of channels the ratio asks for.

A CPU or GPU kernel does not run a convolution in time proportional to its MACs: some
widths (multiples of the vector width, of a tile) run faster than narrower ones, and a
convolution timed alone does not run as it does between its neighbours (layout conversions
between odd widths, caches): a table of single convolutions chose 28-of-32-channel EDSR
groups that ran slower in the network than all 32. So the cost of a group at width ``w`` is
the measured latency of the whole prior with that group at ``w`` and every other group at
its planned width, at batch 1 on the device, in the runtime the network is deployed in
(:class:`LatencyTable`, keyed by the convolution shapes of the pruned prior and cached in a
JSON file with its provenance): widths fast in eager PyTorch need not be fast in ONNX
Runtime, whose blocked kernels favour multiples of 16 (docs/benchmarks/cpu_widths.md), so
the runtime that chooses the widths is the one that reports them. Groups are chosen one
after another, from the unpruned widths down; the channels kept are ranked by the criterion
as for exact widths.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from spade.hooks import forward_hooks
from spade.runtimes import EAGER, ONNX_RUNTIMES, check_runtime

CONVS = (nn.Conv2d, nn.ConvTranspose2d)


def conv_shape(module: nn.Module, in_channels: int, out_channels: int, size: tuple[int, int]) -> tuple:
    """The key of one convolution shape: type, channels, kernel, stride, padding, dilation,
    output padding, bias and the input's spatial size (batch 1)."""
    return (type(module).__name__, int(in_channels), int(out_channels), tuple(module.kernel_size), tuple(module.stride),
            tuple(module.padding), tuple(module.dilation), tuple(getattr(module, "output_padding", (0, 0))),
            module.bias is not None, tuple(int(s) for s in size))


def measure_conv(shape: tuple, device: torch.device, warmup: int = 3, repeats: int = 15) -> float:
    """Median latency (ms) of one convolution of ``shape`` at batch 1 under
    ``torch.inference_mode`` (CUDA events after synchronisation on a GPU)."""
    kind, cin, cout, kernel, stride, padding, dilation, output_padding, bias, size = shape
    kwargs = {"kernel_size": kernel, "stride": stride, "padding": padding, "dilation": dilation, "bias": bias}
    if kind == "ConvTranspose2d":
        conv = nn.ConvTranspose2d(cin, cout, output_padding=output_padding, **kwargs)
    elif kind == "Conv2d":
        conv = nn.Conv2d(cin, cout, **kwargs)
    else:
        raise ValueError(f"no latency for a {kind}: Conv2d and ConvTranspose2d only")
    conv = conv.to(device).eval()
    x = torch.randn(1, cin, *size, device=device)
    return median_ms(lambda: conv(x), device, warmup, repeats)


def median_ms(run: Callable[[], object], device: torch.device, warmup: int = 3, repeats: int = 15) -> float:
    """Median latency (ms) of ``run()`` under ``torch.inference_mode`` after ``warmup`` runs
    (CUDA events after synchronisation on a GPU)."""
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            if device.type == "cuda":
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                torch.cuda.synchronize(device)
                start.record()
                run()
                end.record()
                torch.cuda.synchronize(device)
                elapsed = start.elapsed_time(end)
            else:
                t0 = time.perf_counter()
                run()
                elapsed = (time.perf_counter() - t0) * 1e3
            if i >= warmup:
                times.append(elapsed)
    return statistics.median(times)


def device_identity(device: torch.device, runtime: str = EAGER) -> dict:
    """What a latency table is valid for: the device, its threads, the torch build and the
    runtime that ran the priors (with its version where it is not torch's own)."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    identity = {"device": str(device.type), "device_name": name, "torch": str(torch.__version__),
                "threads": torch.get_num_threads(), "cpu_count": os.cpu_count(), "runtime": runtime}
    if runtime in ONNX_RUNTIMES:
        import onnxruntime

        identity["onnxruntime"] = str(onnxruntime.__version__)
    return identity


class LatencyTable:
    """Latency (ms) of convolution shapes on one device, measured on first use and cached.

    ``path``: a JSON file holding the device identity and ``{shape: ms}``; a file written on
    another device, thread count, torch build or runtime is not reused (it is measured anew
    and replaced on :meth:`save`). ``measure``: how one shape is timed (tests pass their own).
    ``runtime`` (:mod:`spade.runtimes`): what runs the pruned priors the table times, the
    network's deploy runtime (refused here, naming its missing packages, if this machine
    cannot run it)."""

    def __init__(self, path=None, device="cpu", measure: Callable[[tuple, torch.device], float] | None = None,
                 runtime: str = EAGER):
        check_runtime(runtime, where="the latency table's runtime")
        self.path, self.device, self.runtime = (Path(path) if path else None), torch.device(device), runtime
        self.measure = measure or measure_conv
        self.identity = device_identity(self.device, runtime)
        self.entries: dict[str, float] = {}
        self.measured = 0
        if self.path and self.path.exists():
            try:
                stored = json.loads(self.path.read_text())
            except json.JSONDecodeError as err:
                raise ValueError(f"{self.path}: not a latency table ({err})") from err
            if stored.get("identity") == self.identity:
                self.entries = {str(k): float(v) for k, v in stored.get("entries", {}).items()}

    @classmethod
    def read(cls, path) -> "LatencyTable":
        """The table of ``path`` as measured (on the device it records), measuring nothing:
        a shape it lacks is an error naming the file (what a pruning job reads, so that
        concurrent jobs never time anything)."""
        path = Path(path)
        try:
            stored = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: not a latency table ({err})") from err

        def missing(shape, device):
            raise ValueError(f"{path}: no latency for {shape}; the table was made for other networks or ratios "
                             "(rerun the rule latency_table)")

        table = cls(None, "cpu", missing)
        table.path, table.identity = path, stored.get("identity", {})
        table.runtime = table.identity.get("runtime", EAGER)
        table.entries = {str(k): float(v) for k, v in stored.get("entries", {}).items()}
        return table

    def __call__(self, shape: tuple, run: Callable[[], float] | None = None) -> float:
        """The latency of ``shape``: a convolution's (:func:`conv_shape`) or a pruned prior's
        (``("prior", [conv shapes])``), measured on first use: by ``run()`` (which times the
        real module) where given and the table measures with its default, else by the
        table's ``measure`` (a read-only table's refuses, a test's computes)."""
        key = json.dumps(shape)
        if key not in self.entries:
            default = self.measure is measure_conv
            self.entries[key] = float(run() if run is not None and default else self.measure(shape, self.device))
            self.measured += 1
        return self.entries[key]

    def save(self) -> None:
        """Write the table (atomically) beside its provenance."""
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps({"identity": self.identity, "entries": self.entries}, indent=1, sort_keys=True) + "\n")
        os.replace(tmp, self.path)


def input_sizes(prior: nn.Module, run: Callable[[], object]) -> dict[nn.Module, tuple[int, int]]:
    """The spatial size of each convolution's input during ``run()`` (its first call)."""
    sizes = {}

    def record(mod, args):
        sizes.setdefault(mod, tuple(args[0].shape[-2:]))

    with forward_hooks([m for m in prior.modules() if isinstance(m, CONVS)], before=record), torch.no_grad():
        run()
    return sizes


def _group_convs(group, graph) -> tuple[list[nn.Module], list[nn.Module]]:
    """The convolutions whose outputs (``out``) and inputs (``in``) are this group's channels."""
    outs, ins = [], []
    for dep, _ in group:
        module, handler = dep.target.module, dep.handler
        if isinstance(module, CONVS):
            if graph.is_out_channel_pruning_fn(handler) and module not in outs:
                outs.append(module)
            elif graph.is_in_channel_pruning_fn(handler) and module not in ins:
                ins.append(module)
    return outs, ins


def fastest_width(asked: int, current: int, cost: Callable[[int], float]) -> int:
    """The width in ``[asked, current]`` with the lowest ``cost`` (the narrowest of equals)."""
    return min(range(asked, current + 1), key=lambda w: (cost(w), w))


def plan_widths(prior: nn.Module, groups: list, graph, ratio: float, sizes: dict, table: LatencyTable,
                time_widths: Callable[[list[int]], float]) -> list[tuple[int, int, int]]:
    """``(current, asked, chosen)`` width of each group (Torch-Pruning groups of ``prior``, in
    order): asked is what ``ratio`` keeps (as Torch-Pruning rounds it), chosen the width at or
    above it whose whole prior runs fastest, group by group from the unpruned widths, each group
    seeing the choices before it and the current widths after it; then the fastest of that plan,
    the exact (asked) widths and the current ones. ``time_widths(widths)``: the latency of the
    prior with each group at ``widths`` (called only for shapes the table lacks)."""
    convs = [_group_convs(g, graph) for g in groups]
    current = [len(g[0][1]) for g in groups]
    asked = [max(1, int(c * (1 - ratio))) for c in current]
    order = [m for m in prior.modules() if isinstance(m, CONVS) and m in sizes]

    def latency(widths: list[int]) -> float:
        planned = {m: [m.in_channels, m.out_channels] for m in order}
        for (outs, ins), width in zip(convs, widths):
            for m in outs:
                planned[m][1] = width
            for m in ins:
                planned[m][0] = width
        key = ("prior", [conv_shape(m, *planned[m], sizes[m]) for m in order])
        return table(key, run=lambda: time_widths(list(widths)))

    chosen = list(current)
    for i in range(len(groups)):
        chosen[i] = fastest_width(asked[i], current[i], lambda w: latency(chosen[:i] + [w] + chosen[i + 1:]))
    # one group at a time can settle on mixed widths that run slower together than the exact
    # widths or the unpruned ones: the fastest of the three whole priors is kept (the widest of equals)
    chosen = min((current, chosen, asked), key=latency)
    return list(zip(current, asked, chosen))
