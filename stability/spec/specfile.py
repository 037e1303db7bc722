"""Load a :class:`~stability.spec.system.GanSystem` from a TOML spec file.

The format (keys exactly so; see ``examples/specs/`` and the README)::

    [system]
    x = ["x"]                       # data-space variables
    psi = ["psi"]                   # discriminator parameters
    theta = ["theta"]               # generator parameters
    discriminator = "psi*x"         # D(x; psi)
    rho = 1.0                       # penalty weight (may be a symbol name, e.g. "rho")
    link = "identity"               # loss link f (optional): a name or an expression in t
    data = "dirac(0)"               # p_d
    generator = { latent = "uniform(-1, 1)", map = "theta*z" }   # p_theta = law of map(z)
    [system.penalty]
    measure = "mu_gp"               # p_d | p_g | mu_gp | mu_mid | mu_anchor(A) | interpolation(law)
    form = "simple"                 # simple | gp | lp
    mass = "1"                      # optional M(psi, theta)

``generator`` may also be a law string in θ, e.g. ``"dirac(theta)"``; the
table form takes an optional ``z = ["z"]`` naming the latent variables. Every
expression goes through :func:`stability.spec.expressions.parse` (no ``eval``).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import sympy

from stability.spec.expressions import make_symbols, parse
from stability.spec.lambdify import numeric_function
from stability.spec.laws import LAWS, Law, pushforward
from stability.spec.links import LINKS, LossLink
from stability.spec.measures import MEASURES, PenaltyMeasure, interpolation, weighted
from stability.spec.ops import SYMPY
from stability.spec.penalties import get_form
from stability.spec.system import GanSystem, Penalty
from stability.util.errors import UserError, checked_float, within_limit

SYSTEM_KEYS = {"x", "psi", "theta", "discriminator", "rho", "link", "data", "generator", "penalty", "name"}
REQUIRED_KEYS = ("x", "psi", "theta", "discriminator", "data", "generator")
PENALTY_KEYS = {"measure", "form", "mass"}
GENERATOR_KEYS = {"latent", "map", "z"}


def load_spec(path: str | Path) -> GanSystem:
    """Read and validate a spec file; every problem is one :class:`UserError`."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{str(path)!r} is a folder; give the spec file in it (a .toml file, e.g. examples/specs/)")
    if not path.is_file():
        raise UserError(f"spec file {str(path)!r} does not exist")
    try:
        # utf-8-sig: an editor's byte-order mark is not the user's mistake (TOML itself forbids it)
        with within_limit(f"reading the spec file {path.name}", "use a smaller spec"):
            document = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"spec file {str(path)!r} is not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise UserError(f"spec file {str(path)!r} is not UTF-8 text") from None
    except OSError as exc:  # unreadable: permissions, a FIFO, a vanished file
        raise UserError(f"cannot read spec file {str(path)!r}: {exc.strerror or exc}") from None
    with within_limit(f"parsing the expressions of {path.name}", "use a smaller spec"):
        return system_from_dict(document, source=path.name)


def system_from_dict(document: dict[str, Any], source: str = "spec") -> GanSystem:
    """Build a system from the parsed TOML document (``{"system": {...}}``)."""
    if "system" not in document or not isinstance(document["system"], dict):
        raise UserError(f"{source}: missing the [system] table")
    extra_top = set(document) - {"system"}
    if extra_top:
        raise UserError(f"{source}: unknown top-level key(s) {', '.join(sorted(extra_top))}; only [system] is read")
    spec = document["system"]
    _check_keys(spec, SYSTEM_KEYS, "[system]")
    missing = [k for k in REQUIRED_KEYS if k not in spec]
    if missing:
        raise UserError(f"[system] is missing required key(s): {', '.join(missing)}")

    x = make_symbols(_names(spec["x"], "x"), "x")
    psi = make_symbols(_names(spec["psi"], "psi"), "psi")
    theta = make_symbols(_names(spec["theta"], "theta"), "theta")

    discriminator = parse(spec["discriminator"], {s.name: s for s in x + psi}, what="discriminator")
    data = _law(spec["data"], {}, "data")
    generator = _generator(spec["generator"], {s.name: s for s in theta})
    link = _link(spec.get("link", "identity"))

    penalty = None
    if "penalty" in spec:
        table = spec["penalty"]
        if not isinstance(table, dict):
            raise UserError("[system.penalty] must be a table")
        _check_keys(table, PENALTY_KEYS, "[system.penalty]")
        if "measure" not in table:
            raise UserError('[system.penalty] needs a measure, e.g. measure = "mu_gp"')
        measure = _measure(table["measure"])
        if "mass" in table:
            mass = parse(table["mass"], {s.name: s for s in psi + theta}, what="penalty mass")
            measure = weighted(measure, mass)
        rho = _rho(spec.get("rho", 1))
        penalty = Penalty(measure, get_form(str(table.get("form", "simple"))), rho)
    return GanSystem(x, psi, theta, discriminator, data, generator, penalty, link, name=str(spec.get("name", source)))


def _check_keys(table: dict, valid: set[str], where: str) -> None:
    unknown = set(table) - valid
    if unknown:
        raise UserError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; valid: {', '.join(sorted(valid))}")


def _names(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        raise UserError(f'{key} must be a non-empty list of variable names, e.g. {key} = ["{key}"]')
    return value


def _law(text: Any, names: dict, what: str) -> Law:
    law = parse(text, names, functions=LAWS, what=f"{what} law")
    if not isinstance(law, Law):
        raise UserError(f"{what} law {text!r} is not a law; use one of: {', '.join(sorted(LAWS))}")
    return law


def _generator(value: Any, thetas: dict) -> Law:
    if isinstance(value, str):
        return _law(value, thetas, "generator")
    if not isinstance(value, dict):
        raise UserError("generator must be a law string or a table { latent = ..., map = ... }")
    _check_keys(value, GENERATOR_KEYS, "generator")
    if "latent" not in value or "map" not in value:
        raise UserError(
            'generator table needs both latent and map, e.g. { latent = "uniform(-1, 1)", map = "theta*z" }'
        )
    latent = _law(value["latent"], {}, "latent")
    default = ["z"] if latent.dim == 1 else [f"z{i + 1}" for i in range(latent.dim)]
    zs = make_symbols(_names(value.get("z", default), "z"), "latent")
    if len(zs) != latent.dim:
        raise UserError(f"generator: the latent law has dimension {latent.dim} but z names {len(zs)} variables")
    clash = {z.name for z in zs} & set(thetas)
    if clash:
        raise UserError(f"generator: latent variable name(s) {', '.join(sorted(clash))} clash with theta")
    names = {**thetas, **{z.name: z for z in zs}}
    mapping = value["map"]
    exprs = [parse(m, names, what="generator map") for m in (mapping if isinstance(mapping, list) else [mapping])]
    return pushforward(latent, exprs, zs)


def _measure(text: Any) -> PenaltyMeasure:
    if not isinstance(text, str):
        raise UserError(f"penalty measure must be a string, got {text!r}")
    plain = {name: kind() for name, kind in MEASURES.items() if not kind.needs_anchor}
    anchored = {name: kind for name, kind in MEASURES.items() if kind.needs_anchor}
    functions = {**anchored, "interpolation": interpolation, **LAWS}
    valid = sorted(plain) + [f"{name}(A)" for name in anchored] + ["interpolation(law)"]
    try:
        measure = parse(text, plain, functions=functions, what="penalty measure")
    except UserError as exc:
        raise UserError(f"{exc}; valid measures: {', '.join(valid)}") from None
    if not isinstance(measure, PenaltyMeasure):
        raise UserError(f"penalty measure {text!r} is not a measure; valid: {', '.join(valid)}")
    return measure


def _rho(value: Any) -> sympy.Expr:
    if isinstance(value, str) and value.strip().isidentifier():
        return sympy.Symbol(value.strip(), positive=True)
    rho = parse(value, {}, what="rho")
    if not isinstance(rho, sympy.Expr) or not rho.is_number or rho.is_real is False:
        raise UserError(f"rho must be a positive number or a symbol name, got {value!r}")
    checked_float(rho, "rho", positive=True)  # exact, but also a float64 the numeric engines can use
    return rho


def _link(value: Any) -> LossLink:
    if not isinstance(value, str):
        raise UserError(f"link must be a name or an expression in t, got {value!r}")
    if value in LINKS:
        return LINKS[value]
    t = sympy.Symbol("t", real=True)
    try:
        expr = parse(value, {"t": t}, what="link")
    except UserError as exc:
        raise UserError(f"{exc}; or use a named link: {', '.join(sorted(LINKS))}") from None

    compiled: list = []  # the torch function, compiled on the first torch call (training calls f every step)

    def f(arg: Any, ops: Any) -> Any:
        if ops is SYMPY:
            return expr.xreplace({t: arg})
        if not compiled:
            compiled.append(numeric_function(t, expr, backend="torch"))
        return compiled[0](arg)

    return LossLink(value, f, f"f(t) = {value}")
