"""The gradient-penalty checker: every right way of writing it passes, every wrong ε is named."""

import random

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ganlessons as gl
from ganlessons import checks


def _eps(x, draw=lambda n: torch.rand(n, 1, 1, 1)):
    return draw(x.shape[0]).to(x)


def make(eps=_eps, mix=None, norm=lambda g: g.flatten(1).norm(dim=1), create_graph=True, reduce=torch.mean,
         penalty=lambda n: (n - 1) ** 2, objective=lambda d: d.sum(), scale=1.0):
    """A penalty built from parts, so each variant changes exactly one of them."""
    mix = mix or (lambda e, xr, xf: e * xr + (1 - e) * xf)

    def fn(critic, x_real, x_fake):
        x_hat = mix(eps(x_real), x_real, x_fake).requires_grad_(True)
        (g,) = torch.autograd.grad(objective(critic(x_hat)), x_hat, create_graph=create_graph)
        return scale * reduce(penalty(norm(g)))
    return fn


def lesson_solution(critic, x_real, x_fake):  # notebooks/05_wgan_gp.md, exercise 1
    eps = torch.rand(x_real.shape[0], *[1] * (x_real.dim() - 1))
    x_hat = (eps * x_real + (1 - eps) * x_fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def pytorch_gan_style(critic, real_samples, fake_samples):  # eriklindernoren/PyTorch-GAN, flattened, ones for D's shape
    alpha = torch.tensor(np.random.random((real_samples.size(0), 1, 1, 1)), dtype=real_samples.dtype)
    interpolates = (alpha * real_samples + ((1 - alpha) * fake_samples)).requires_grad_(True)
    d_interpolates = critic(interpolates)
    fake = torch.ones(real_samples.shape[0])
    gradients = torch.autograd.grad(outputs=d_interpolates, inputs=interpolates, grad_outputs=fake,
                                    create_graph=True, retain_graph=True, only_inputs=True)[0]
    gradients = gradients.view(gradients.size(0), -1)
    return ((gradients.norm(2, dim=1) - 1) ** 2).mean()


_outside_gen = torch.Generator().manual_seed(123)  # a learner's own generator, made once: fresh ε on each call


RIGHT = {
    "lesson solution": lesson_solution,
    "gl.losses.gradient_penalty": gl.losses.gradient_penalty,
    "eps (N,1) viewed (N,1,1,1)": make(eps=lambda x: torch.rand(x.shape[0], 1).view(-1, 1, 1, 1)),
    "eps (N,) indexed [:, None, None, None]": make(eps=lambda x: torch.rand(x.shape[0])[:, None, None, None]),
    "torch.empty().uniform_()": make(eps=lambda x: torch.empty(x.shape[0], 1, 1, 1).uniform_()),
    "torch.empty().uniform_(0, 1)": make(eps=lambda x: torch.empty(x.shape[0], 1, 1, 1).uniform_(0, 1)),
    "rand_like of one element per sample": make(eps=lambda x: torch.rand_like(x[:, :1, :1, :1])),
    "eps expanded to x's shape": make(eps=lambda x: torch.rand(x.shape[0], 1, 1, 1).expand_as(x)),
    "eps with device and dtype": make(eps=lambda x: torch.rand(x.shape[0], *[1] * (x.dim() - 1), device=x.device,
                                                               dtype=x.dtype)),
    "torch.distributions.Uniform": make(eps=lambda x: torch.distributions.Uniform(0.0, 1.0).sample(
        (x.shape[0], 1, 1, 1))),
    "numpy eps": make(eps=lambda x: torch.from_numpy(np.random.random((x.shape[0], 1, 1, 1))).float()),
    "own generator made outside": make(eps=lambda x: torch.rand(x.shape[0], 1, 1, 1, generator=_outside_gen)),
    "x_fake + eps (x_real - x_fake)": make(mix=lambda e, xr, xf: xf + e * (xr - xf)),
    "x_real + eps (x_fake - x_real)": make(mix=lambda e, xr, xf: xr + e * (xf - xr)),
    "eps x_fake + (1 - eps) x_real": make(mix=lambda e, xr, xf: e * xf + (1 - e) * xr),
    "detach then requires_grad_": make(mix=lambda e, xr, xf: (e * xr + (1 - e) * xf).detach()),
    "pow(2).sum(dims).sqrt()": make(norm=lambda g: g.pow(2).sum(dim=(1, 2, 3)).sqrt()),
    "sqrt(sum + 1e-12)": make(norm=lambda g: torch.sqrt(torch.sum(g ** 2, dim=[1, 2, 3]) + 1e-12)),
    "view(N, -1).norm(2, dim=1)": make(norm=lambda g: g.view(g.size(0), -1).norm(2, dim=1)),
    "linalg.vector_norm over dims": make(norm=lambda g: torch.linalg.vector_norm(g, dim=(1, 2, 3))),
    "grad_outputs=ones": None,  # filled below
    "PyTorch-GAN style, flattened": pytorch_gan_style,
    "returns a float64 tensor": make(scale=torch.tensor(1.0, dtype=torch.float64)),
}


def _grad_outputs_ones(critic, x_real, x_fake):
    eps = torch.rand(x_real.size(0), 1, 1, 1)
    x_hat = eps * x_real + (1 - eps) * x_fake
    x_hat.requires_grad_(True)
    d = critic(x_hat)
    (g,) = torch.autograd.grad(d, x_hat, grad_outputs=torch.ones_like(d), create_graph=True)
    return ((g.reshape(len(g), -1).norm(dim=1) - 1) ** 2).mean()


RIGHT["grad_outputs=ones"] = _grad_outputs_ones


def _seeded_inside(critic, x_real, x_fake):
    torch.manual_seed(0)
    return lesson_solution(critic, x_real, x_fake)


N_SHAPE = (1, 1, 1)
WRONG_EPS = {  # every way of getting ε (so x̂) wrong that lesson 05 warns about, and some more
    "one scalar eps (torch.rand(1))": (make(eps=lambda x: torch.rand(1)), "one ε"),
    "one python float eps": (make(eps=lambda x: random.random()), "one ε"),
    "eps per element (rand_like)": (make(eps=lambda x: torch.rand_like(x)), "shape of x"),
    "eps per pixel (N,1,H,W)": (make(eps=lambda x: torch.rand(x.shape[0], 1, *x.shape[2:])), "varies across the rows"),
    "eps per channel (N,C,1,1)": (make(eps=lambda x: torch.rand(*x.shape[:2], 1, 1)), "across the channels"),
    "eps per element, shared by the batch (1,C,H,W)": (make(eps=lambda x: torch.rand(1, *x.shape[1:])),
                                                       "shape of x"),
    "eps ~ N(0,1) (torch.randn)": (make(eps=lambda x: torch.randn(x.shape[0], 1, 1, 1)), "N(0, 1)"),
    "eps ~ U[-1,1]": (make(eps=lambda x: torch.rand(x.shape[0], 1, 1, 1) * 2 - 1), "outside the segment"),
    "eps ~ U[0,0.5]": (make(eps=lambda x: torch.rand(x.shape[0], 1, 1, 1) * 0.5), "not uniform"),
    "eps = rand**2": (make(eps=lambda x: torch.rand(x.shape[0], 1, 1, 1) ** 2), "not uniform"),
    "eps ~ N(0.5, 0.15) clamped": (make(eps=lambda x: (0.5 + 0.15 * torch.randn(x.shape[0], 1, 1, 1)).clamp(0, 1)),
                                   "not uniform"),
    "eps in {0, 1} (randint)": (make(eps=lambda x: torch.randint(0, 2, (x.shape[0], 1, 1, 1)).float()),
                                "only takes the values"),
    "x_hat = x_real": (make(mix=lambda e, xr, xf: xr.clone()), "x̂ = x_real"),
    "x_hat = x_fake": (make(mix=lambda e, xr, xf: xf.clone()), "x̂ = x_fake"),
    "eps fixed at 0.5": (make(eps=lambda x: 0.5), "fixed at 0.5"),
    "midpoint (x_real + x_fake) / 2": (make(mix=lambda e, xr, xf: (xr + xf) / 2), "fixed at 0.5"),
    "eps the same on every call (manual_seed inside)": (_seeded_inside, "same on two calls"),
    "eps = linspace(0, 1, N)": (make(eps=lambda x: torch.linspace(0, 1, x.shape[0]).view(-1, 1, 1, 1)),
                                "same on two calls"),
    "eps (N,1) on 4-D images": (make(eps=lambda x: torch.rand(x.shape[0], 1)), "(N, 1, 1, 1)"),
    "x_real + noise (not an interpolate)": (make(mix=lambda e, xr, xf: xr + 0.1 * torch.randn_like(xr)),
                                            "not an interpolate"),
}

WRONG_OTHER = {
    "norm over dim=1 of a 4-D gradient": (make(norm=lambda g: g.norm(2, dim=1)), "over dim=1"),
    "missing square": (make(penalty=lambda n: n - 1), "square is missing"),
    "abs instead of square": (make(penalty=lambda n: (n - 1).abs()), "square is missing"),
    "mean of norms, then minus 1, squared": (make(penalty=lambda n: n, reduce=lambda n: (n.mean() - 1) ** 2),
                                             "averaged the norms"),
    "squared norm": (make(norm=lambda g: g.pow(2).flatten(1).sum(1)), "squared norm"),
    "create_graph forgotten": (make(create_graph=False), "create_graph=True"),
    "gradient detached": (make(norm=lambda g: g.detach().flatten(1).norm(dim=1)), "create_graph=True"),
    "lambda = 10 applied inside": (make(scale=10.0), "multiplied by λ"),
    "summed over the batch": (make(reduce=torch.sum), "summed over the batch"),
    "one norm over the whole batch": (make(norm=lambda g: g.flatten().norm()), "one norm over the whole batch"),
    "gradient of D(x_hat).mean()": (make(objective=lambda d: d.mean()), "D(x̂).mean()"),
    "one-sided penalty": (make(penalty=lambda n: F.relu(n - 1) ** 2), "one-sided"),
    "no mean: one penalty per sample": (make(reduce=lambda v: v), "one penalty per sample"),
}


def _no_requires_grad(critic, x_real, x_fake):
    eps = torch.rand(x_real.shape[0], 1, 1, 1)
    x_hat = eps * x_real + (1 - eps) * x_fake
    (g,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()


def _critic_on_detached(critic, x_real, x_fake):
    eps = torch.rand(x_real.shape[0], 1, 1, 1)
    x_hat = (eps * x_real + (1 - eps) * x_fake).requires_grad_(True)
    (g,) = torch.autograd.grad(critic(x_hat.detach()).sum(), x_hat, create_graph=True)
    return ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()


def _grad_wrt_x_real(critic, x_real, x_fake):
    x_real.requires_grad_(True)
    eps = torch.rand(x_real.shape[0], 1, 1, 1)
    x_hat = eps * x_real + (1 - eps) * x_fake
    (g,) = torch.autograd.grad(critic(x_hat).sum(), x_real, create_graph=True)
    return ((g.flatten(1).norm(dim=1) - 1) ** 2).mean()


def _backward_instead(critic, x_real, x_fake):
    eps = torch.rand(x_real.shape[0], 1, 1, 1)
    x_hat = (eps * x_real + (1 - eps) * x_fake).requires_grad_(True)
    critic(x_hat).sum().backward()
    return ((x_hat.grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


WRONG_OTHER.update({
    "x_hat does not require grad": (_no_requires_grad, "requires_grad_(True)"),
    "critic called on x_hat.detach()": (_critic_on_detached, "not on x̂.detach()"),
    "gradient taken with respect to x_real": (_grad_wrt_x_real, "with respect to x_real"),
    "backward() and x_hat.grad": (_backward_instead, "create_graph=True"),
    "not written": (lambda c, r, f: (_ for _ in ()).throw(NotImplementedError()), "not written yet"),
    "critic never called": (lambda c, r, f: torch.tensor(0.5, requires_grad=True), "never called"),
})


@pytest.mark.parametrize("label", list(RIGHT))
def test_gradient_penalty_accepts_every_right_form(label):
    result = checks.gradient_penalty(RIGHT[label])
    assert result, (label, result)


@pytest.mark.parametrize("label", list(WRONG_EPS))
def test_gradient_penalty_rejects_every_wrong_eps(label):
    fn, hint = WRONG_EPS[label]
    result = checks.gradient_penalty(fn)
    assert not result and hint in result.message, (label, result)


@pytest.mark.parametrize("label", list(WRONG_OTHER))
def test_gradient_penalty_rejects_other_slips(label):
    fn, hint = WRONG_OTHER[label]
    result = checks.gradient_penalty(fn)
    assert not result and hint in result.message, (label, result)


def test_gradient_penalty_counts():
    """The figures the issue asks for (the report quotes them)."""
    assert len(WRONG_EPS) >= 18 and len(RIGHT) >= 20 and len(WRONG_OTHER) >= 15


def test_gradient_penalty_is_fast_and_leaves_the_global_rng():
    import time
    before = torch.get_rng_state()
    t = time.perf_counter()
    assert checks.gradient_penalty(lesson_solution)
    assert time.perf_counter() - t < 2.0
    assert torch.equal(before, torch.get_rng_state())


def test_gradient_penalty_names_any_lambda_inside():
    result = checks.gradient_penalty(make(scale=5.0))
    assert not result and "5 × the penalty" in result.message and "λ" in result.message
