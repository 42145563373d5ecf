"""Hooks for one block: on inside it, gone after it, also when it raises."""

import pytest
import torch
from torch import nn

from spade.hooks import forward_hooks


def test_hooks_run_inside_the_block_and_are_removed_after_it_even_on_error():
    layers = [nn.Linear(2, 2), nn.Linear(2, 2)]
    seen = []
    x = torch.ones(1, 2)
    with forward_hooks(layers, before=lambda m, args: seen.append(("in", layers.index(m))),
                       after=lambda m, args, out: seen.append(("out", layers.index(m)))):
        for layer in layers:
            layer(x)
    assert seen == [("in", 0), ("out", 0), ("in", 1), ("out", 1)]
    with pytest.raises(RuntimeError, match="inside"):
        with forward_hooks(layers, after=lambda *_: seen.append("again")):
            raise RuntimeError("inside")
    for layer in layers:
        layer(x)
    assert len(seen) == 4, "no hook outlives its block"
    assert all(not layer._forward_hooks and not layer._forward_pre_hooks for layer in layers)
    with pytest.raises(ValueError, match="needs a hook"):
        with forward_hooks(layers):
            pass
