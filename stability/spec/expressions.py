"""Safe parsing of user expressions into sympy, without ``eval``.

Spec files hold expressions such as ``"psi*x**2"`` or ``"uniform(-1, 1)"``.
They are parsed with :mod:`ast` and only a whitelist of node types is turned
into sympy objects: numbers, declared names, arithmetic, lists, and calls of
functions from a table the caller supplies. Anything else is a
:class:`~stability.spec.errors.SpecError` naming the offending text.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from typing import Any

import sympy

from stability.spec.errors import SpecError

#: Functions allowed inside algebraic expressions.
MATH_FUNCTIONS: dict[str, Callable[..., sympy.Expr]] = {
    "exp": sympy.exp,
    "log": sympy.log,
    "sqrt": sympy.sqrt,
    "sin": sympy.sin,
    "cos": sympy.cos,
    "tanh": sympy.tanh,
    "abs": sympy.Abs,
    "Abs": sympy.Abs,
    "max": sympy.Max,
    "min": sympy.Min,
    "sigmoid": lambda t: 1 / (1 + sympy.exp(-t)),
    "softplus": lambda t: sympy.log(1 + sympy.exp(t)),
}

CONSTANTS: dict[str, sympy.Expr] = {"pi": sympy.pi, "E": sympy.E}

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


def make_symbols(names: list[str] | tuple[str, ...], role: str) -> tuple[sympy.Symbol, ...]:
    """Real sympy symbols for declared variable names, checked to be identifiers."""
    symbols = []
    for name in names:
        if not isinstance(name, str) or not name.isidentifier():
            raise SpecError(f"{role} variable name {name!r} is not a valid identifier")
        if name in MATH_FUNCTIONS or name in CONSTANTS:
            raise SpecError(f"{role} variable name {name!r} clashes with a built-in function or constant")
        symbols.append(sympy.Symbol(name, real=True))
    return tuple(symbols)


def parse(
    text: str | int | float,
    names: Mapping[str, Any],
    functions: Mapping[str, Callable[..., Any]] | None = None,
    what: str = "expression",
) -> Any:
    """Parse ``text`` into a sympy object using only the given names and functions.

    Args:
        text: the expression, e.g. ``"psi*x**2"``. Numbers are accepted as is.
        names: symbols (or other values) that bare names may refer to.
        functions: callables that may be called; defaults to :data:`MATH_FUNCTIONS`.
        what: a short description used in error messages, e.g. ``"discriminator"``.

    Raises:
        SpecError: on syntax errors, undeclared names or disallowed constructs.
    """
    if isinstance(text, bool):
        raise SpecError(f"{what}: expected an expression, got {text!r}")
    if isinstance(text, (int, float)):
        return sympy.nsimplify(text) if isinstance(text, float) else sympy.Integer(text)
    if not isinstance(text, str):
        raise SpecError(f"{what}: expected an expression string, got {type(text).__name__}")
    functions = MATH_FUNCTIONS if functions is None else functions
    try:
        # x^2 means a power here; replacing the token (not mapping the XOR node)
        # keeps Python's precedence right: psi*x^2 is psi*(x**2).
        tree = ast.parse(text.strip().replace("^", "**"), mode="eval")
    except SyntaxError as exc:
        raise SpecError(f"{what} {text!r} does not parse: {exc.msg}") from None
    undeclared: set[str] = set()
    value = _Evaluator(names, functions, what, text, undeclared).visit(tree.body)
    if undeclared:
        raise SpecError(f"{what} {text!r} uses undeclared name(s): {', '.join(sorted(undeclared))}")
    return value


class _Evaluator:
    def __init__(self, names, functions, what, text, undeclared):
        self.names = names
        self.functions = functions
        self.what = what
        self.text = text
        self.undeclared = undeclared

    def fail(self, message: str) -> SpecError:
        return SpecError(f"{self.what} {self.text!r}: {message}")

    def visit(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise self.fail(f"only numbers are allowed as constants, not {node.value!r}")
            # Exact rationals keep symbolic results exact (0.5 -> 1/2).
            return sympy.Rational(str(node.value)) if isinstance(node.value, float) else sympy.Integer(node.value)
        if isinstance(node, ast.Name):
            if node.id in self.names:
                return self.names[node.id]
            if node.id in CONSTANTS:
                return CONSTANTS[node.id]
            self.undeclared.add(node.id)
            return sympy.Symbol(node.id, real=True)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](self.visit(node.left), self.visit(node.right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](self.visit(node.operand))
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self.visit(element) for element in node.elts]
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                raise self.fail("only calls of plain function names are allowed")
            name = node.func.id
            if name not in self.functions:
                raise self.fail(f"unknown function {name!r}; valid: {', '.join(sorted(self.functions))}")
            args = [self.visit(arg) for arg in node.args]
            kwargs = {kw.arg: self.visit(kw.value) for kw in node.keywords if kw.arg is not None}
            try:
                return self.functions[name](*args, **kwargs)
            except SpecError:
                raise
            except (TypeError, ValueError) as exc:
                raise self.fail(f"bad arguments to {name}(): {exc}") from None
        raise self.fail(f"{type(node).__name__} is not allowed in an expression")
