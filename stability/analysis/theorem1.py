"""The Theorem 1 block check of ``003_…`` at an equilibrium.

Appendix C shows that at an equilibrium (ψ*, θ*) satisfying Assumptions 1–6
the Jacobian of the flow is::

    J = [[−ρQ, −R], [Rᵀ, 0]],   Q = E_μ*[∇_ψx D ∇_ψxᵀ D],   R = ∇_θ E_pθ[∇_ψ D] |θ*,

that Q ⪰ 0, and that stability follows when N(Q) ⊂ N(Rᵀ) and the projected
system J' = [[−ρΛ_D⁺, −T_Dᵀ R T_G], [T_Gᵀ Rᵀ T_D, 0]] is Hurwitz (T_D, T_G:
eigenvectors of Q and RᵀR with non-zero eigenvalues). :func:`theorem1_check`
computes Q and R by autodiff from their definitions (not from J), the full J,
and each of these conditions with a tolerance. Q includes the penalty mass
M(ψ*, θ*) (μ* is a finite measure) and R is stated for the WGAN link f(t) = t.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from stability.autodiff.field import Point, TorchField


@dataclass
class Theorem1Check:
    """The blocks of Theorem 1 at a point and the conditions of its proof.

    Attributes:
        residual: ‖J − [[−ρQ, −R], [Rᵀ, 0]]‖_F.
        relative_residual: residual / ‖J‖_F.
        field_norm: ‖F(ψ*, θ*)‖, to confirm the point is an equilibrium.
        q_min_eigenvalue: smallest eigenvalue of Q (≥ −tol for Q ⪰ 0).
        q_rank, r_rank: numerical ranks with the tolerance.
        nullspace_gap: ‖S_Dᵀ R‖ / ‖R‖ for an orthonormal basis S_D of N(Q)
            (0 when N(Q) ⊂ N(Rᵀ)).
        projected_max_real: max Re λ of the projected Jacobian J'.
        eigenvalues_max_real: max Re λ of the full J.
    """

    n_psi: int
    n_theta: int
    rho: float
    residual: float
    relative_residual: float
    field_norm: float
    q_min_eigenvalue: float
    q_psd: bool
    q_rank: int
    r_rank: int
    nullspace_gap: float
    nullspace_ok: bool
    projected_size: tuple[int, int]
    projected_max_real: float | None
    projected_hurwitz: bool
    eigenvalues_max_real: float
    tolerance: float
    Q: np.ndarray = field(repr=False)
    R: np.ndarray = field(repr=False)
    J: np.ndarray = field(repr=False)
    notes: list[str] = field(default_factory=list)

    @property
    def holds(self) -> bool:
        """Every checked condition of Theorem 1 holds (block form, Q ⪰ 0, nullspaces, Hurwitz)."""
        return self.relative_residual <= self.tolerance and self.q_psd and self.nullspace_ok and self.projected_hurwitz

    def to_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k not in ("Q", "R", "J")}
        out["projected_size"] = list(self.projected_size)
        out["holds"] = self.holds
        return out

    def summary(self) -> list[str]:
        """Readable lines, one per condition."""
        mark = lambda ok: "yes" if ok else "NO"  # noqa: E731
        return [
            f"equilibrium: ‖F(ψ*, θ*)‖ = {self.field_norm:.3e}",
            f"block form: ‖J − [[−ρQ, −R], [Rᵀ, 0]]‖ = {self.residual:.3e} (relative {self.relative_residual:.3e}) "
            f"-> {mark(self.relative_residual <= self.tolerance)}",
            f"Q ⪰ 0: min eigenvalue {self.q_min_eigenvalue:.3e}, rank {self.q_rank} of {self.n_psi} "
            f"-> {mark(self.q_psd)}",
            f"rank R = {self.r_rank} (R is {self.n_psi}×{self.n_theta})",
            f"N(Q) ⊂ N(Rᵀ): ‖S_Dᵀ R‖/‖R‖ = {self.nullspace_gap:.3e} -> {mark(self.nullspace_ok)}",
            f"projected system {self.projected_size[0]}+{self.projected_size[1]}: max Re λ = "
            + (f"{self.projected_max_real:.4e}" if self.projected_max_real is not None else "n/a")
            + f" -> Hurwitz {mark(self.projected_hurwitz)}",
            f"full J: max Re λ = {self.eigenvalues_max_real:.4e}",
        ]


def theorem1_blocks(field_: TorchField, point: Point | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Q = M · E_μ̄[(∇_ψ∇ₓD)ᵀ(∇_ψ∇ₓD)] and R = ∇_θ E_pθ[∇_ψ D], from their definitions.

    Q is built as AᵀA with A the ψ-Jacobian of the weighted input gradients
    √wᵢ ∇ₓD(x̂ᵢ; ψ), so it is PSD by construction when weights and mass are ≥ 0.
    """
    vector = field_.vector(point)
    game = field_.placed
    psi, theta = field_.split(vector)
    with torch.no_grad():
        if game.penalty is not None:
            weights, points = game.penalty.nodes(theta)
            root = weights.clamp(min=0).sqrt().reshape(-1, *(1,) * (points.dim() - 1))

            def weighted_grad(p: torch.Tensor) -> torch.Tensor:
                g = torch.func.grad(lambda x: game.discriminator(x, p).sum())(points)
                return (root * g).reshape(-1)

            A = torch.func.jacfwd(weighted_grad)(psi)  # (N·d, n_psi), forward mode: n_psi ≪ N·d
            Q = A.T @ A
            if game.penalty.mass is not None:
                Q = game.penalty.mass(psi, theta) * Q
        else:
            Q = torch.zeros(game.n_psi, game.n_psi, dtype=game.dtype)

        def mean_grad_psi(t: torch.Tensor) -> torch.Tensor:
            def generated_mean(p: torch.Tensor) -> torch.Tensor:
                w, xg = game.generator(t)
                return (w * game.discriminator(xg, p)).sum()

            return torch.func.grad(generated_mean)(psi)

        R = torch.func.jacrev(mean_grad_psi)(theta)  # (n_psi, n_theta)
    return Q.to(torch.float64).numpy(), R.to(torch.float64).numpy()


def theorem1_check(field_: TorchField, point: Point | None = None, tol: float = 1e-8) -> Theorem1Check:
    """Check the conclusions of Theorem 1 (Appendix C) at ``point``.

    Args:
        field_: the torch field (spec or modules).
        point: the equilibrium (default: the modules' own parameters).
        tol: relative tolerance for the block residual, ranks, nullspaces and
            the Hurwitz test.
    """
    game = field_.game
    rho = game.penalty.rho if game.penalty is not None else 0.0
    vector = field_.as_vector(point)
    J = field_.jacobian(vector)
    F = field_.value(vector)
    Q, R = theorem1_blocks(field_, vector)
    p, q = game.n_psi, game.n_theta
    block = np.block([[-rho * Q, -R], [R.T, np.zeros((q, q))]])
    residual = float(np.linalg.norm(J - block))
    scale = max(float(np.linalg.norm(J)), 1e-300)
    notes = []
    if game.link.name != "identity":
        notes.append(
            f"Theorem 1 is stated for f(t) = t; the link here is {game.link.name}, so extra f'' terms may remain in J"
        )
    if game.penalty is not None and game.penalty.form.name != "simple":
        notes.append(f"Theorem 1 is stated for the simple penalty; the form here is {game.penalty.form.name}")

    q_eigs, q_vecs = np.linalg.eigh((Q + Q.T) / 2)
    q_scale = max(float(np.max(np.abs(q_eigs))) if q_eigs.size else 0.0, 1e-300)
    q_zero = tol * q_scale if q_scale > 1e-300 else tol
    positive = q_eigs > q_zero
    T_D, S_D = q_vecs[:, positive], q_vecs[:, ~positive]
    _, r_sv, r_vt = np.linalg.svd(R)
    r_scale = float(r_sv[0]) if r_sv.size else 0.0
    r_rank = int(np.sum(r_sv > tol * r_scale)) if r_scale > 0 else 0
    gap = float(np.linalg.norm(S_D.T @ R) / r_scale) if (S_D.size and r_scale > 0) else 0.0

    T_G = r_vt[:r_rank].T  # eigenvectors of RᵀR with non-zero eigenvalues
    a, b = T_D.shape[1], T_G.shape[1]
    projected_max = None
    hurwitz = False
    if a + b > 0:
        Jp = np.block([[-rho * np.diag(q_eigs[positive]), -T_D.T @ R @ T_G], [T_G.T @ R.T @ T_D, np.zeros((b, b))]])
        eigs = np.linalg.eigvals(Jp)
        projected_max = float(np.max(eigs.real))
        hurwitz = projected_max < -tol * max(float(np.max(np.abs(eigs))), 1e-300)
    full_eigs = np.linalg.eigvals(J)
    return Theorem1Check(
        n_psi=p,
        n_theta=q,
        rho=rho,
        residual=residual,
        relative_residual=residual / scale,
        field_norm=float(np.linalg.norm(F)),
        q_min_eigenvalue=float(q_eigs[0]) if q_eigs.size else 0.0,
        q_psd=bool(q_eigs.size == 0 or q_eigs[0] >= -q_zero),
        q_rank=int(np.sum(positive)),
        r_rank=r_rank,
        nullspace_gap=gap,
        nullspace_ok=gap <= tol**0.5,  # eigenvectors of a near-zero cluster are accurate to ~√tol
        projected_size=(a, b),
        projected_max_real=projected_max,
        projected_hurwitz=bool(hurwitz),
        eigenvalues_max_real=float(np.max(full_eigs.real)),
        tolerance=tol,
        Q=Q,
        R=R,
        J=J,
        notes=notes,
    )
