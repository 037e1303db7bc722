"""Safe parsing of user expressions into sympy, without ``eval``.

Spec files hold expressions such as ``"psi*x**2"`` or ``"uniform(-1, 1)"``.
They are parsed with :mod:`ast` and only a whitelist of node types is turned
into sympy objects: numbers, declared names, arithmetic, lists, and calls of
functions from a table the caller supplies. Anything else is a
:class:`~stability.util.errors.UserError` naming the offending text.
"""

from __future__ import annotations

import ast
import contextlib
import math
import operator
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import sympy

from stability.util.errors import UserError, checked_float, within_limit

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

#: Exact numbers (numerator or denominator) beyond this many bits are refused: no float64 holds them (its range
#: is 2^±1074), computing 9**9**9 hangs, and Python will not even print integers of more than 4,300 digits.
MAX_NUMBER_BITS = 4000
#: Integer exponents of symbols beyond this make moments of astronomic size (E[z^k] = (k−1)!! for a normal law).
MAX_EXPONENT = 1000


#: Operators in one expression: a sum of 20,000 terms is fine; far more would overflow the parser's C stack.
MAX_OPERATORS = 50_000


@contextlib.contextmanager
def _recursion_limit(depth: int) -> Iterator[None]:
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(max(previous, depth))
    try:
        yield
    finally:
        sys.setrecursionlimit(previous)


def _summable(value: Any) -> bool:
    return isinstance(value, sympy.Expr)


def _number_like(value: Any) -> bool:
    return isinstance(value, sympy.Expr) and value.is_number


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 24 else f"{text[:8]}…({len(text)} digits)"


def _quote(text: str) -> str:
    """The user's expression in a message, cut short if it is long."""
    return repr(text) if len(text) <= 80 else repr(text[:60] + "…") + f" ({len(text):,} characters)"


def exact_number(value: Any, name: str = "number") -> sympy.Rational:
    """A finite float (or int) as an exact rational that converts back to the same float64.

    ``nsimplify`` finds the simple rational behind a decimal (0.375 → 3/8, 1/3 → 1/3), but it also rounds
    1e-300 to 0; when its answer is not the same double, the value's own decimal is used (1e-300 → 1/10³⁰⁰).
    Non-finite values are refused by :func:`~stability.util.errors.checked_float`.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return sympy.Integer(value)
    number = checked_float(value, name)
    simple = sympy.nsimplify(number)
    if simple.is_Rational and float(simple) == number:
        return simple
    return sympy.Rational(repr(number))


def exact_value(value: Any, name: str = "number") -> Any:
    """Any number a caller gives (int, float, sympy number, numeric text such as ``"1/3"``) made exact.

    Floats go through :func:`exact_number` (``nsimplify`` alone rounds 1e-300 to 0 and, for 1e-10, can fail inside
    sympy's factorisation); an exact sympy value is kept as it is; anything else is sympified strictly.
    """
    if isinstance(value, sympy.Basic):
        if isinstance(value, sympy.Float):
            return exact_number(float(value), name)
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return exact_number(value, name)
    parsed = sympy.sympify(value, strict=True)
    return exact_number(float(parsed), name) if isinstance(parsed, sympy.Float) else parsed


def exact_to_complex(expr: Any) -> complex:
    """An exact sympy number evaluated to a Python complex, correct to float64 precision.

    ``sympy.N`` stops at 100 working digits and then returns a number with no correct digit (−ρ/2 + √(ρ²/4 − 1) at
    ρ = 10³⁰⁰ comes back as ``0.e+175``, i.e. 3e175, where the value is −1e-300); 2,000 digits cover every
    cancellation between numbers of the float64 range. A result that still has no precision is refused.
    """
    value = sympy.N(expr, 17, maxn=2000)
    parts = [part for part in value.as_real_imag() if isinstance(part, sympy.Float)]
    if any(part._prec < 10 and part != 0 for part in parts):
        raise UserError(f"cannot evaluate {_quote(str(expr))} to float64 precision")
    return complex(value)


def make_symbols(names: list[str] | tuple[str, ...], role: str) -> tuple[sympy.Symbol, ...]:
    """Real sympy symbols for declared variable names, checked to be identifiers."""
    symbols = []
    for name in names:
        if not isinstance(name, str) or not name.isidentifier():
            raise UserError(f"{role} variable name {name!r} is not a valid identifier")
        if name in MATH_FUNCTIONS or name in CONSTANTS:
            raise UserError(f"{role} variable name {name!r} clashes with a built-in function or constant")
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
        UserError: on syntax errors, undeclared names or disallowed constructs.
    """
    if isinstance(text, bool):
        raise UserError(f"{what}: expected an expression, got {text!r}")
    if isinstance(text, (int, float)):  # a TOML number: nan, inf and 1e400 (already inf) are refused here
        return exact_number(text, what)
    if not isinstance(text, str):
        raise UserError(f"{what}: expected an expression string, got {type(text).__name__}")
    functions = MATH_FUNCTIONS if functions is None else functions
    # x^2 means a power here; replacing the token (not mapping the XOR node)
    # keeps Python's precedence right: psi*x^2 is psi*(x**2).
    source = text.strip().replace("^", "**")
    flat = source.replace("**", "^")  # the depth of the tree is the longest chain of one kind of operator
    operators = max(flat.count("+") + flat.count("-"), flat.count("*") + flat.count("/"))
    if operators > MAX_OPERATORS:  # the parser's C stack would overflow (a crash, not an error) far beyond
        raise UserError(
            f"{what} {_quote(text)} chains {operators:,} operators; at most {MAX_OPERATORS:,} (use a smaller spec)"
        )
    try:
        with _recursion_limit(2 * operators + 1000):  # Python's parser recurses once per term of a sum
            tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise UserError(f"{what} {_quote(text)} does not parse: {exc.msg}") from None
    except ValueError as exc:  # e.g. a NUL character
        raise UserError(f"{what} {_quote(text)} does not parse: {exc}") from None
    except (RecursionError, MemoryError):
        raise UserError(f"{what} {_quote(text)} is nested too deeply to parse") from None
    undeclared: set[str] = set()
    try:
        with within_limit(f"parsing the {what} {_quote(text)}", "write it with fewer terms (use a smaller spec)"):
            value = _Evaluator(names, functions, what, text, undeclared, source).visit(tree.body)
    except RecursionError:  # long sums are flattened below; this is deep nesting, e.g. 5,000 parentheses
        raise UserError(f"{what} {_quote(text)} is nested too deeply (simplify it)") from None
    if undeclared:
        raise UserError(f"{what} {_quote(text)} uses undeclared name(s): {', '.join(sorted(undeclared))}")
    return value


class _Evaluator:
    def __init__(self, names, functions, what, text, undeclared, source):
        self.names = names
        self.source = source  # the text as parsed, for quoting a literal
        self.functions = functions
        self.what = what
        self.text = text
        self.undeclared = undeclared

    def fail(self, message: str) -> UserError:
        return UserError(f"{self.what} {_quote(self.text)}: {message}")

    def visit(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise self.fail(f"only numbers are allowed as constants, not {node.value!r}")
            if isinstance(node.value, float) and (node.value == 0 or not math.isfinite(node.value)):
                literal = ast.get_source_segment(self.source, node) or str(node.value)  # (linear in the text)
                if not math.isfinite(node.value):  # 1e400 parses as inf
                    raise self.fail(f"the number {literal} does not fit in a float64")
                if any(c in "123456789" for c in literal.lower().split("e")[0]):  # 1e-400 parses as 0.0
                    raise self.fail(f"the number {literal} rounds to 0 in float64")
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
            return self.chain(node)
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
            except UserError:
                raise
            except (TypeError, ValueError) as exc:
                raise self.fail(f"bad arguments to {name}(): {exc}") from None
        raise self.fail(f"{type(node).__name__} is not allowed in an expression")

    def chain(self, node: ast.BinOp) -> Any:
        """A left-nested chain ``a + b - c * d ...`` without recursing along it.

        A 20,000-term sum is a 20,000-deep tree: walking it recursively overflows the stack, and adding term by
        term re-flattens sympy's sum each time (quadratic). Runs of + and − become one ``sympy.Add``.
        """
        spine: list[tuple[type, ast.AST]] = []
        while isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            spine.append((type(node.op), node.right))
            node = node.left
        value = self.visit(node)
        terms: list[Any] = []
        for op, right in reversed(spine):
            operand = self.visit(right)
            if op in (ast.Add, ast.Sub) and _summable(value) and _summable(operand):
                terms.append(operand if op is ast.Add else -operand)
                continue
            if terms:
                value, terms = sympy.Add(value, *terms), []
            value = self.power(value, operand) if op is ast.Pow else _BINARY[op](value, operand)
            self.check_size(value)
        return sympy.Add(value, *terms) if terms else value

    def check_size(self, value: Any) -> None:
        """Refuse exact numbers beyond any float64 (1e-300**2 has 600 digits; 20 such factors break printing)."""
        if isinstance(value, sympy.Rational) and max(value.p.bit_length(), value.q.bit_length()) > MAX_NUMBER_BITS:
            digits = max(value.p.bit_length(), value.q.bit_length()) * math.log10(2)
            raise self.fail(f"a number in it has about {digits:,.0f} digits (a float64 holds about 308); simplify it")

    def power(self, base: Any, exponent: Any) -> Any:
        """``base ** exponent``, refusing exact integers with more digits than any float64 (9**9**9 would hang)."""
        if isinstance(base, sympy.Rational) and isinstance(exponent, sympy.Integer) and base not in (0, 1, -1):
            bits = float(abs(exponent)) * max(base.p.bit_length(), base.q.bit_length())
            if bits > MAX_NUMBER_BITS:
                raise self.fail(
                    f"the power {_short(base)}**{_short(exponent)} has about {bits * math.log10(2):.3g} digits "
                    "(a float64 holds about 308); write a smaller number"
                )
        if isinstance(exponent, sympy.Integer) and abs(exponent) > MAX_EXPONENT and not _number_like(base):
            raise self.fail(
                f"the exponent {_short(exponent)} is too large to differentiate or integrate "
                f"(at most {MAX_EXPONENT:,}); write exp({_short(exponent)}*log(...)) if that is meant"
            )
        return base**exponent
