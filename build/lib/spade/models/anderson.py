"""Anderson acceleration for fixed-point problems ``x = f(x)`` (Walker & Ni 2011).

Each sample of the batch stops on its own: its iteration count is the first iteration
at which its relative residual ``||f(x) - x|| / ||f(x)||`` fell below ``tol``. The solve
ends when every sample has converged or after ``max_iter`` evaluations of ``f``.
"""

from __future__ import annotations

import torch


def anderson(f, x0: torch.Tensor, memory: int = 5, max_iter: int = 100, tol: float = 1e-4,
             beta: float = 1.0, lam: float = 1e-4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Solve ``x = f(x)`` from ``x0``; returns ``(x, iterations, residual)`` per sample.

    ``memory``: past iterates mixed (m); ``beta``: mixing of f-values and iterates;
    ``lam``: Tikhonov regularisation of the least-squares system, relative to its scale.
    """
    if memory < 2:
        raise ValueError(f"Anderson memory must be >= 2, got {memory}")
    b = x0.shape[0]
    shape = x0.shape
    flat = lambda t: t.reshape(b, -1)  # noqa: E731
    xs = x0.new_zeros(b, memory, flat(x0).shape[1])
    fs = torch.zeros_like(xs)
    xs[:, 0], fs[:, 0] = flat(x0), flat(f(x0))
    iters = torch.full((b,), max_iter, dtype=torch.long, device=x0.device)
    residual = torch.full((b,), float("inf"), device=x0.device)
    done = torch.zeros(b, dtype=torch.bool, device=x0.device)

    def check(k: int, fx: torch.Tensor, x: torch.Tensor) -> None:
        nonlocal done
        res = (fx - x).norm(dim=1) / (fx.norm(dim=1) + 1e-12)
        newly = ~done & (res < tol)
        iters[newly] = k
        residual[~done] = res[~done]
        done = done | newly

    check(1, fs[:, 0], xs[:, 0])
    if max_iter < 2:
        return fs[:, 0].reshape(shape), iters, residual
    xs[:, 1], fs[:, 1] = fs[:, 0], flat(f(fs[:, 0].reshape(shape)))
    check(2, fs[:, 1], xs[:, 1])
    h = x0.new_zeros(b, memory + 1, memory + 1)
    h[:, 0, 1:] = h[:, 1:, 0] = 1
    rhs = x0.new_zeros(b, memory + 1, 1)
    rhs[:, 0] = 1
    k = 2
    while k < max_iter and not bool(done.all()):
        n = min(k, memory)
        g = fs[:, :n] - xs[:, :n]
        gram = g @ g.transpose(1, 2)
        # Regularise relative to the residuals' own scale: a fixed lam would swamp the
        # Gram matrix near convergence and turn Anderson into slow averaging.
        scale = gram.diagonal(dim1=1, dim2=2).mean(dim=1).clamp_min(1e-30)[:, None, None]
        eye = torch.eye(n, dtype=x0.dtype, device=x0.device)
        h[:, 1 : n + 1, 1 : n + 1] = gram + lam * scale * eye
        alpha = torch.linalg.solve(h[:, : n + 1, : n + 1], rhs[:, : n + 1])[:, 1 : n + 1, 0]
        nxt = beta * (alpha[:, None] @ fs[:, :n])[:, 0] + (1 - beta) * (alpha[:, None] @ xs[:, :n])[:, 0]
        # Converged samples keep their fixed point: no further drift from the others' solve.
        nxt = torch.where(done[:, None], xs[:, (k - 1) % memory], nxt)
        slot = k % memory
        xs[:, slot] = nxt
        fs[:, slot] = flat(f(nxt.reshape(shape)))
        k += 1
        check(k, fs[:, slot], xs[:, slot])
    last = (k - 1) % memory
    return fs[:, last].reshape(shape), iters, residual


def inertial(f, x0: torch.Tensor, max_iter: int = 100, tol: float = 1e-4,
             momentum: float = 0.5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Solve ``x = f(x)`` by inertial (heavy-ball) fixed-point iteration, the acceleration
    of i-DEQ (arXiv 2605.19705): ``z_k = x_k + momentum (x_k - x_{k-1})``, ``x_{k+1} = f(z_k)``;
    one evaluation of ``f`` per iteration and no least-squares system, unlike Anderson. Each
    sample stops at the first iteration whose relative residual ``||f(z) - z|| / ||f(z)||``
    fell below ``tol`` (as :func:`anderson`); returns ``(x, iterations, residual)``."""
    b = x0.shape[0]
    iters = torch.full((b,), max_iter, dtype=torch.long, device=x0.device)
    residual = torch.full((b,), float("inf"), device=x0.device)
    done = torch.zeros(b, dtype=torch.bool, device=x0.device)
    previous = x = x0
    for k in range(1, max_iter + 1):
        z = x + momentum * (x - previous)
        fz = f(z)
        res = (fz - z).reshape(b, -1).norm(dim=1) / (fz.reshape(b, -1).norm(dim=1) + 1e-12)
        newly = ~done & (res < tol)
        iters[newly] = k
        residual[~done] = res[~done]
        # converged samples keep their fixed point while the others iterate
        keep = done.reshape(b, *([1] * (x0.dim() - 1)))
        previous, x = torch.where(keep, previous, x), torch.where(keep, x, fz)
        done = done | newly
        if bool(done.all()):
            break
    return x, iters, residual
