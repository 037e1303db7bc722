"""Traced Jacobian products (stability/autodiff/linearize.py) against eager torch.func, the dense Jacobian, central
differences, and across fields that share a trace."""

import numpy as np
import pytest
import torch
from torch import nn

from models.mlp import MLP
from stability.autodiff.field import TorchField
from stability.autodiff.linearize import TracedLinearization
from stability.spec.toys import make_penalty


def _samples(seed: int, n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, 2, generator=gen, dtype=torch.float64), torch.randn(n, 2, generator=gen, dtype=torch.float64)


def _field(seed: int = 0, data_seed: int = 0, width: int = 5, rho: float = 0.8, form: str = "gp") -> TorchField:
    """A small MLP GAN (smooth activations, so central differences apply) with a gradient penalty on μ_GP."""
    torch.manual_seed(seed)
    critic = MLP(2, 1, width=width, depth=2, activation="tanh").double()
    generator = MLP(2, 2, width=4, depth=1, activation="softplus").double()
    data, latent = _samples(data_seed)
    return TorchField.from_modules(critic, generator, data, latent, make_penalty("mu_gp", rho=rho, form=form))


def _eager_jvp(field: TorchField, w: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.func.jvp(field.field_fn, (w,), (v,))[1]


def _eager_vjp(field: TorchField, w: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    return torch.func.vjp(field.field_fn, w)[1](u)[0].detach()


def _directions(n: int, seed: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=gen, dtype=torch.float64), torch.randn(n, generator=gen, dtype=torch.float64)


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


def test_traced_products_equal_eager_dense_and_central_differences():
    field = _field()
    w = field.vector()
    v, u = _directions(field.size)
    jv, jtu = field.jvp_operator()(v), field.vjp_operator()(u)
    assert _relative(jv, _eager_jvp(field, w, v)) <= 1e-12
    assert _relative(jtu, _eager_vjp(field, w, u)) <= 1e-12
    J = torch.as_tensor(field.jacobian())
    assert _relative(jv, J @ v) <= 1e-10 and _relative(jtu, J.T @ u) <= 1e-10
    h = 1e-5
    directional = (field.value(w + h * v) - field.value(w - h * v)) / (2 * h)
    assert np.allclose(jv.numpy(), directional, atol=1e-7 * max(1.0, float(np.abs(directional).max())))
    assert field._traced is not None and field._traced[1] is not None  # the traced graphs answered, not eager


def test_one_trace_serves_other_points():
    field = _field()
    w = field.vector()
    field.jvp_operator(w)
    traced = field._traced[1]
    other = w + 0.3 * _directions(field.size, seed=7)[0]
    v, u = _directions(field.size)
    jv, jtu = field.jvp_operator(other)(v), field.vjp_operator(other)(u)
    assert field._traced[1] is traced  # checked at the new point, not traced again
    J = torch.as_tensor(field.jacobian(other))
    assert _relative(jv, J @ v) <= 1e-10 and _relative(jtu, J.T @ u) <= 1e-10
    assert _relative(field.linearization(other).value, field.field_tensor(other)) <= 1e-14


def test_a_later_checkpoint_takes_the_trace_with_its_own_data():
    first = _field(seed=0, data_seed=0)
    first.vjp_operator()  # trace the products and the transposed graph
    second = _field(seed=1, data_seed=5)  # other weights and other data of the same shapes
    assert second.reuse_trace(first)
    assert second._traced[1] is not first._traced[1]
    w = second.vector()
    v, u = _directions(second.size)
    J = torch.as_tensor(second.jacobian())
    jv, jtu = second.jvp_operator()(v), second.vjp_operator()(u)
    assert _relative(jv, J @ v) <= 1e-10 and _relative(jtu, J.T @ u) <= 1e-10
    assert _relative(jv, _eager_jvp(second, w, v)) <= 1e-12
    # the first field's graphs still read the first field's data
    J1 = torch.as_tensor(first.jacobian())
    assert _relative(first.jvp_operator()(v), J1 @ v) <= 1e-10


@pytest.mark.parametrize("change", [{"width": 6}, {"rho": 0.5}, {"form": "simple"}])
def test_a_different_field_is_traced_anew(change):
    first = _field()
    first.jvp_operator()
    other = _field(seed=1, **change)
    assert not other.reuse_trace(first)
    v, _ = _directions(other.size)
    J = torch.as_tensor(other.jacobian())
    assert _relative(other.jvp_operator()(v), J @ v) <= 1e-10


class _Counting(nn.Module):
    """D(x) = (wᵀx + b)(1 + c/10), c = how many entries of w are positive: the trace records c as a number."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        count = torch.nonzero(self.linear.weight > 0).shape[0]
        return self.linear(x).reshape(-1) * (1.0 + 0.1 * count)


def test_operations_that_depend_on_the_point_are_traced_again():
    torch.manual_seed(0)
    data, latent = _samples(0)
    field = TorchField.from_modules(_Counting(), nn.Linear(2, 2).double(), data, latent, make_penalty("p_d", rho=0.5))
    here = torch.zeros(field.size, dtype=torch.float64) + 0.3  # both critic weights positive: c = 2
    there = here.clone()
    there[0] = -0.3  # c = 1
    v, u = _directions(field.size)
    field.jvp_operator(here)(v)
    traced = field._traced[1]
    J = torch.as_tensor(field.jacobian(there))
    assert _relative(field.jvp_operator(there)(v), J @ v) <= 1e-10
    assert _relative(field.vjp_operator(there)(u), J.T @ u) <= 1e-10
    assert field._traced[1] is not traced  # the check at the new point refused the old graphs


class _Switching(nn.Module):
    """D(x) = tanh(Wx + b)·a, with a Python branch on a weight's value: torch cannot trace float(tensor)."""

    def __init__(self):
        super().__init__()
        self.inner = nn.Linear(2, 3).double()
        self.a = nn.Parameter(torch.tensor([0.7, -0.4, 0.2], dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sign = 1.0 if float(self.inner.bias[0].detach()) >= 0 else -1.0
        return (torch.tanh(self.inner(x)) * (sign * self.a)).sum(-1)


def test_an_untraceable_field_falls_back_to_eager_products_with_a_note():
    torch.manual_seed(0)
    data, latent = _samples(0)
    penalty = make_penalty("mu_gp", rho=0.5, form="gp")
    field = TorchField.from_modules(_Switching(), nn.Linear(2, 2).double(), data, latent, penalty)
    w = field.vector()
    v, u = _directions(field.size)
    J = torch.as_tensor(field.jacobian())
    assert _relative(field.jvp_operator()(v), J @ v) <= 1e-10
    assert _relative(field.vjp_operator()(u), J.T @ u) <= 1e-10
    assert field.linearization(w) is None
    assert any("eager torch.func" in note for note in field.notes)


def test_a_function_of_a_field_is_traced_too():
    # a map built on field_fn (as an update rule is): one explicit Euler step w + h F(w), linearised as I + h J
    field = _field()
    w = field.vector()
    h = 0.05
    traced = TracedLinearization(lambda z: z + h * field.field_fn(z), w)
    v, u = _directions(field.size)
    J = torch.as_tensor(field.jacobian())
    linear = traced.at(w)
    assert _relative(linear.jvp(v), v + h * (J @ v)) <= 1e-12
    assert _relative(linear.vjp(u), u + h * (J.T @ u)) <= 1e-12


def test_first_order_fn_gives_the_map_products_of_field_fn():
    # two explicit Euler steps w ↦ w + hF(w) ↦ … through the field at two points: the map's JVP and VJP through
    # first_order_fn equal those through field_fn (traced graphs at each point), and its value is field_fn's
    field = _field()
    w = field.vector()
    fast = field.first_order_fn()
    h = 0.05

    def map_of(fn):
        def step_twice(z: torch.Tensor) -> torch.Tensor:
            z = z + h * fn(z)
            return z + h * fn(z)

        return step_twice

    v, u = _directions(field.size)
    value, jv = torch.func.jvp(map_of(fast), (w,), (v,))
    eager_value, eager_jv = torch.func.jvp(map_of(field.field_fn), (w,), (v,))
    assert _relative(value, eager_value) <= 1e-14 and _relative(jv, eager_jv) <= 1e-12
    jtu = torch.func.vjp(map_of(fast), w)[1](u)[0]
    assert _relative(jtu, torch.func.vjp(map_of(field.field_fn), w)[1](u)[0]) <= 1e-12
    # against the dense Jacobians at the two points: (I + hJ(w₁))(I + hJ(w₀))
    w1 = w + h * field.field_tensor(w)
    J0, J1 = torch.as_tensor(field.jacobian(w)), torch.as_tensor(field.jacobian(w1))
    T = (torch.eye(field.size, dtype=torch.float64) + h * J1) @ (torch.eye(field.size, dtype=torch.float64) + h * J0)
    assert _relative(jv, T @ v) <= 1e-10 and _relative(jtu, T.T @ u) <= 1e-10


def test_first_order_fn_refuses_a_second_derivative():
    field = _field()
    fast = field.first_order_fn()
    w0 = field.vector()
    w = w0.clone().requires_grad_()
    with pytest.raises(RuntimeError, match="first derivatives only"):  # create_graph asks for a differentiable one
        torch.autograd.grad(fast(w).square().sum() + (w**3).sum(), w, create_graph=True)
    for nested in (
        lambda: torch.func.jacrev(torch.func.grad(lambda z: fast(z).square().sum()))(w0),
        lambda: torch.func.jvp(lambda z: torch.func.jvp(fast, (z,), (z,))[1], (w0,), (w0,)),
        lambda: torch.func.jacfwd(fast)(w0),
    ):
        with pytest.raises(RuntimeError, match="first derivatives only|vmap"):
            nested()
    torch.autograd.grad(fast(w).sum(), w)  # a first derivative by torch.autograd is fine
