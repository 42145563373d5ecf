"""Hardware-aware widths (``round_to="auto"``): each dependency group keeps the width that
runs fastest on this device at or above the number of channels the ratio asks for.

A CPU or GPU kernel does not run a convolution in time proportional to its MACs: some
widths (multiples of the vector width, of a tile) run faster than narrower ones. The
latency of each convolution shape a group touches is measured once per device
(:class:`LatencyTable`, cached in a JSON file with its provenance) and a group's cost at
width ``w`` is the sum of its convolutions' latencies with the group's channels at ``w`` and
every other group's at the width the ratio asks for. The choice is greedy per group; the
channels kept are ranked by the criterion as for exact widths.
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
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            if device.type == "cuda":
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                torch.cuda.synchronize(device)
                start.record()
                conv(x)
                end.record()
                torch.cuda.synchronize(device)
                elapsed = start.elapsed_time(end)
            else:
                t0 = time.perf_counter()
                conv(x)
                elapsed = (time.perf_counter() - t0) * 1e3
            if i >= warmup:
                times.append(elapsed)
    return statistics.median(times)


def device_identity(device: torch.device) -> dict:
    """What a latency table is valid for: the device, its threads and the torch build."""
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    return {"device": str(device.type), "device_name": name, "torch": str(torch.__version__),
            "threads": torch.get_num_threads(), "cpu_count": os.cpu_count()}


class LatencyTable:
    """Latency (ms) of convolution shapes on one device, measured on first use and cached.

    ``path``: a JSON file holding the device identity and ``{shape: ms}``; a file written on
    another device, thread count or torch build is not reused (it is measured anew and
    replaced on :meth:`save`). ``measure``: how one shape is timed (tests pass their own)."""

    def __init__(self, path=None, device="cpu", measure: Callable[[tuple, torch.device], float] | None = None):
        self.path, self.device = (Path(path) if path else None), torch.device(device)
        self.measure = measure or measure_conv
        self.identity = device_identity(self.device)
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
        table.entries = {str(k): float(v) for k, v in stored.get("entries", {}).items()}
        return table

    def __call__(self, shape: tuple) -> float:
        key = json.dumps(shape)
        if key not in self.entries:
            self.entries[key] = float(self.measure(shape, self.device))
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
    sizes, handles = {}, []

    def record(mod, args):
        sizes.setdefault(mod, tuple(args[0].shape[-2:]))

    for m in prior.modules():
        if isinstance(m, CONVS):
            handles.append(m.register_forward_pre_hook(record))
    try:
        with torch.no_grad():
            run()
    finally:
        for h in handles:
            h.remove()
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


def group_cost(width: int, outs: list[nn.Module], ins: list[nn.Module], planned: dict[nn.Module, tuple[int, int]],
               sizes: dict, table: Callable[[tuple], float]) -> float:
    """Latency of a group's convolutions with its channels at ``width`` and the other
    dimension of each at its planned width (``planned[conv] = (in, out)``)."""
    total = 0.0
    for conv in outs:
        cin = width if conv in ins else planned[conv][0]
        total += table(conv_shape(conv, cin, width, sizes[conv]))
    for conv in ins:
        if conv in outs:  # a convolution mapping the group to itself (a residual stream's own conv)
            continue
        cout = planned[conv][1]
        total += table(conv_shape(conv, width, cout, sizes[conv]))
    return total


def fastest_width(asked: int, current: int, cost: Callable[[int], float]) -> int:
    """The width in ``[asked, current]`` with the lowest ``cost`` (the narrowest of equals)."""
    return min(range(asked, current + 1), key=lambda w: (cost(w), w))


def plan_widths(groups: list, graph, ratio: float, sizes: dict,
                table: Callable[[tuple], float]) -> list[tuple[int, int, int]]:
    """``(current, asked, chosen)`` width of each group (Torch-Pruning groups, in order): asked
    is what ``ratio`` keeps (as Torch-Pruning rounds it), chosen the fastest width at or above
    it, group by group, each seeing the choices before it and the asked widths after it."""
    convs = [_group_convs(g, graph) for g in groups]
    current = [len(g[0][1]) for g in groups]
    asked = [max(1, int(c * (1 - ratio))) for c in current]
    planned = {m: (m.in_channels, m.out_channels) for m in sizes}
    for (outs, ins), width in zip(convs, asked):
        for m in outs:
            planned[m] = (planned[m][0], width)
        for m in ins:
            planned[m] = (width, planned[m][1])
    plan = []
    for (outs, ins), cur, ask in zip(convs, current, asked):
        chosen = fastest_width(ask, cur, lambda w: group_cost(w, outs, ins, planned, sizes, table))
        for m in outs:
            planned[m] = (planned[m][0], chosen)
        for m in ins:
            planned[m] = (chosen, planned[m][1])
        plan.append((cur, ask, chosen))
    return plan
