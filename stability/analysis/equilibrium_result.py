"""What an equilibrium search reports: an isolated point or a continuum, and its check by a second route.

Its own module so that the symbolic solve (:mod:`~stability.analysis.equilibria`) and the numeric search
(:mod:`~stability.analysis.numeric_equilibria`) share the result type without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Verification:
    """The field re-evaluated at a reported point by a second route (issue 27).

    Attributes:
        route: how it was evaluated (the other backend than the one that found the point).
        residual: ‖F‖ there.
        size: ‖size of the field's terms‖ there (:func:`~stability.analysis.flows.term_size`).
        relative: residual / size (with a floor where every term vanishes).
        second_point_relative: the same at a continuum's second point.
        higher_route: for a flow whose expectations are Gauss quadrature sums, the route of the finer quadrature
            the point was re-evaluated by (both backends above share the flow's nodes, so they cannot see its error).
        higher_relative: ‖F‖ over the size of the terms at the point by that finer quadrature.
        second_point_higher_relative: the same at a continuum's second point.
        quadrature_change: ‖F_fine − F‖ at the point, the change of the field with the finer rule: the estimate of
            the flow's quadrature error there (Gauss rules converge fast, so the finer rule's own error is far less).
        quadrature_error: ``quadrature_change`` over the size of the terms.
        polished_point: where Levenberg–Marquardt on the finer flow moved the point when ``higher_relative``
            exceeded the root tolerance: the root of the finer flow next to the flow's own root.
        polished_relative: ‖F‖ over the size of the terms there, by the finer quadrature.
        moved: ‖polished_point − point‖.
    """

    route: str
    residual: float
    size: float
    relative: float
    second_point_relative: float | None = None
    higher_route: str | None = None
    higher_relative: float | None = None
    second_point_higher_relative: float | None = None
    quadrature_change: float | None = None
    quadrature_error: float | None = None
    polished_point: dict[str, float] | None = None
    polished_relative: float | None = None
    moved: float | None = None

    def describe(self) -> str:
        return f"‖F‖ = {self.residual:.2g} (terms {self.size:.2g}, relative {self.relative:.2g}; {self.route})"

    def describe_higher(self) -> str | None:
        """The finer quadrature's verdict at the point (and where its root is, when it moved), or ``None``."""
        if self.higher_route is None:
            return None
        text = (
            f"relative residual {self.higher_relative:.2g} here ({self.higher_route}); the flow's quadrature error "
            f"here ‖F_fine − F‖ = {self.quadrature_change:.2g} (relative {self.quadrature_error:.2g})"
        )
        if self.polished_point is not None:
            where = ", ".join(f"{k}={v:.6g}" for k, v in self.polished_point.items())
            text += (
                f"; the finer flow's root, {self.moved:.2g} away: ({where}), relative residual "
                f"{self.polished_relative:.2g} there"
            )
        return text

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class Equilibrium:
    """An isolated equilibrium, or a continuum of them.

    Attributes:
        point: a representative point (the point itself when isolated).
        kind: ``"isolated"`` or ``"continuum"``.
        exact: the solution as ``{name: expression}`` strings when solved symbolically (for a flat numeric
            continuum: its equations, solved for the pivot coordinates).
        free: for a continuum, the parameters left free along it.
        method: ``"symbolic"`` or ``"numeric"``.
        dimension: a numeric continuum's dimension (the rank deficiency of J along it, confirmed at a second point).
        tangents: a numeric continuum's orthonormal tangent directions at ``point``.
        second_point: another root on the continuum, where the rank deficiency was confirmed.
        flat: whether the continuum is an affine subspace (then ``exact`` holds its equations).
        transverse: the eigenvalues of J across the continuum and their class.
        roots_on_it: how many search starts ended on the continuum.
        relative_residual: ‖F‖ over the size of the terms at ``point``, by the route that found it.
        verification: the same by a second route.
    """

    point: dict[str, float]
    kind: str = "isolated"
    exact: dict[str, str] | None = None
    free: list[str] = field(default_factory=list)
    method: str = "symbolic"
    solution: dict | None = field(default=None, repr=False, compare=False)  # {symbol: sympy expr} behind ``exact``
    dimension: int | None = None
    tangents: list[dict[str, float]] | None = None
    second_point: dict[str, float] | None = None
    flat: bool | None = None
    transverse: object | None = None  # stability.analysis.continua.Transverse
    roots_on_it: int | None = None
    relative_residual: float | None = None
    verification: Verification | None = None

    def describe(self) -> str:
        if self.kind == "continuum":
            fixed = ", ".join(f"{k} = {v}" for k, v in (self.exact or {}).items())
            if self.method == "numeric" and self.dimension is not None:
                shape = f"continuum {fixed}" if fixed else "curved continuum"
                tangents = "; ".join(
                    "(" + ", ".join(f"{v + 0.0:.3g}" for v in t.values()) + ")" for t in self.tangents or []
                )
                cross = f", transverse {self.transverse.classification}" if self.transverse is not None else ""
                along = f"{', '.join(self.free)} free" if self.free else f"tangents {tangents}"
                return f"{shape} of dimension {self.dimension} ({along}){cross}"
            if not fixed:
                return f"every point is an equilibrium ({', '.join(self.free)} free)"
            return f"continuum {fixed} ({', '.join(self.free)} free)"
        return "(" + ", ".join(f"{k}={v:.6g}" for k, v in self.point.items()) + ")"

    def to_dict(self) -> dict:
        out = {"point": self.point, "kind": self.kind, "exact": self.exact, "free": self.free, "method": self.method}
        if self.dimension is not None:
            out |= {
                "dimension": self.dimension,
                "tangents": self.tangents,
                "second_point": self.second_point,
                "flat": self.flat,
                "transverse": self.transverse.to_dict() if self.transverse is not None else None,
                "roots_on_it": self.roots_on_it,
            }
        if self.relative_residual is not None:
            out["relative_residual"] = self.relative_residual
        if self.verification is not None:
            out["verification"] = self.verification.to_dict()
        return out
