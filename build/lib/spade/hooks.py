"""Module hooks for one block of code: registered on entry, removed on exit, also when the
block raises, so that no counting or capturing hook outlives what it measured."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterable, Iterator

from torch import nn


@contextmanager
def forward_hooks(modules: Iterable[nn.Module], *, before: Callable | None = None, after: Callable | None = None,
                  with_kwargs: bool = False) -> Iterator[None]:
    """Run the block with ``before`` as a forward pre-hook (``(module, args)``, or
    ``(module, args, kwargs)`` with ``with_kwargs``) and ``after`` as a forward hook
    (``(module, args, output)``) on each of ``modules``; a hook tells the modules apart by its
    first argument."""
    if before is None and after is None:
        raise ValueError("forward_hooks needs a hook: before, after or both")
    handles = []
    try:
        for module in modules:
            if before is not None:
                handles.append(module.register_forward_pre_hook(before, with_kwargs=with_kwargs))
            if after is not None:
                handles.append(module.register_forward_hook(after))
        yield
    finally:
        for handle in handles:
            handle.remove()
