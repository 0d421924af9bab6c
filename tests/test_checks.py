import torch
import torch.nn.functional as F

from ganlessons import checks


def test_d_loss_checker():
    right = lambda r, f: F.binary_cross_entropy_with_logits(r, torch.ones_like(r)) + \
        F.binary_cross_entropy_with_logits(f, torch.zeros_like(f))
    assert checks.d_loss(right)
    cases = {
        "sign is flipped": lambda r, f: -right(r, f),
        "swapped": lambda r, f: right(f, r),
        "summed over the batch": lambda r, f: F.softplus(-r).sum() + F.softplus(f).sum(),
        "only the real term": lambda r, f: F.softplus(-r).mean(),
        "only the fake term": lambda r, f: F.softplus(f).mean() / 2,
        "sign is flipped ": lambda r, f: -right(r, f) / 2,        # a negative factor is a flipped sign
        "swapped ": lambda r, f: right(f, r) / 2,                 # a slip stays a slip when halved
        "summed over the batch ": lambda r, f: (F.softplus(-r).sum() + F.softplus(f).sum()) / 2,
        "is 0 for every input": lambda r, f: 0 * right(r, f),     # the factor 0 is no objective
        "expected": lambda r, f: right(r, f) + 1.0,
        "shape": lambda r, f: F.softplus(-r) + F.softplus(f),
        "log of a logit": lambda r, f: -(torch.log(r) + torch.log(1 - f)).mean(),
        "raised": lambda r, f: undefined_name,  # noqa: F821
        "torch tensor": lambda r, f: 1.0,
    }
    for hint, wrong in cases.items():
        result = checks.d_loss(wrong)
        assert not result and hint.strip() in result.message, (hint, result)
    assert "❌" in repr(checks.d_loss(cases["swapped"])) and "✅" in repr(checks.d_loss(right))


D_LOSS_RESCALED = {  # the same objective up to a positive constant: right, and the ✅ says how it relates
    "halved sum": (lambda r, f: (F.softplus(-r).mean() + F.softplus(f).mean()) / 2, "½ × ours"),
    "mean of the two BCE terms": (lambda r, f: torch.stack([
        F.binary_cross_entropy_with_logits(r, torch.ones_like(r)),
        F.binary_cross_entropy_with_logits(f, torch.zeros_like(f))]).mean(), "½ × ours"),
    "BCE over the concatenated batch": (lambda r, f: F.binary_cross_entropy_with_logits(
        torch.cat([r, f]), torch.cat([torch.ones_like(r), torch.zeros_like(f)])), "concatenated"),
    "nn.BCEWithLogitsLoss on the concatenated batch": (lambda r, f: torch.nn.BCEWithLogitsLoss()(
        torch.cat([r, f]), torch.cat([torch.ones_like(r), torch.zeros_like(f)])), "½ × ours"),
    "BCE on sigmoid of the concatenated batch": (lambda r, f: F.binary_cross_entropy(
        torch.sigmoid(torch.cat([r, f])), torch.cat([torch.ones_like(r), torch.zeros_like(f)])), "½ × ours"),
    "twice ours": (lambda r, f: 2 * (F.softplus(-r).mean() + F.softplus(f).mean()), "2 × ours"),
}


def test_d_loss_accepts_positive_rescalings():
    for label, (fn, says) in D_LOSS_RESCALED.items():
        result = checks.d_loss(fn)
        assert result and says in result.message and "Adam" in result.message and "SGD" in result.message, \
            (label, result)


def test_g_loss_checker():
    assert checks.g_loss(lambda f: F.softplus(-f).mean())
    assert checks.g_loss(lambda f: F.binary_cross_entropy_with_logits(f, torch.ones_like(f)))
    cases = {
        "minimax": lambda f: torch.log(1 - torch.sigmoid(f)).mean(),
        "sign is flipped": lambda f: -F.softplus(-f).mean(),
        "label 0": lambda f: F.binary_cross_entropy_with_logits(f, torch.zeros_like(f)),
        "summed": lambda f: F.softplus(-f).sum(),
    }
    for hint, wrong in cases.items():
        result = checks.g_loss(wrong)
        assert not result and hint in result.message, (hint, result)


def test_optimal_discriminator_checker():
    assert checks.optimal_discriminator(lambda p, q: p / (p + q))
    safe = {  # a small safety ε in the division is right
        "p/(p+q+1e-8)": lambda p, q: p / (p + q + 1e-8),
        "p/(p+q+1e-6)": lambda p, q: p / (p + q + 1e-6),
        "p/(p+q+1e-12)": lambda p, q: p / (p + q + 1e-12),
        "(p+ε)/(p+q+2ε)": lambda p, q: (p + 1e-8) / (p + q + 2e-8),
        "clamp(p+q, min=1e-8)": lambda p, q: p / torch.clamp(p + q, min=1e-8),
        "float32": lambda p, q: (p.float() / (p.float() + q.float() + 1e-8)),
    }
    for label, fn in safe.items():
        assert checks.optimal_discriminator(fn), label
    cases = {
        "probability of *fake*": lambda p, q: q / (p + q),
        "density ratio": lambda p, q: p / q,
        "expected shape": lambda p, q: (p / (p + q)).mean(),
        "not D*": lambda p, q: p / (p + q) ** 2 * 0 + 0.5,
    }
    for hint, wrong in cases.items():
        result = checks.optimal_discriminator(wrong)
        assert not result and hint in result.message, (hint, result)


def test_d_step_detach_checker():
    def right(G, D, x_real, z):
        return F.binary_cross_entropy_with_logits(D(x_real), torch.ones(len(x_real))) + \
            F.binary_cross_entropy_with_logits(D(G(z).detach()), torch.zeros(len(z)))

    def no_detach(G, D, x_real, z):
        return F.binary_cross_entropy_with_logits(D(x_real), torch.ones(len(x_real))) + \
            F.binary_cross_entropy_with_logits(D(G(z)), torch.zeros(len(z)))

    def no_grad(G, D, x_real, z):
        with torch.no_grad():
            return right(G, D, x_real, z)

    assert checks.d_step_detach(right)

    def right_with_backward(G, D, x_real, z):  # calling backward() inside is fine: judged by where grads went
        loss = right(G, D, x_real, z)
        loss.backward()
        return loss

    def right_under_no_grad_g(G, D, x_real, z):
        with torch.no_grad():
            fake = G(z)
        return right(lambda _: fake, D, x_real, z)

    def no_detach_with_backward(G, D, x_real, z):
        loss = no_detach(G, D, x_real, z)
        loss.backward()
        return loss

    result = checks.d_step_detach(right_with_backward)
    assert result and "backward() inside" in result.message, result
    assert checks.d_step_detach(right_under_no_grad_g)
    assert "detach the fakes" in checks.d_step_detach(no_detach_with_backward).message
    assert "detach the fakes" in checks.d_step_detach(no_detach).message
    assert "no gradient" in checks.d_step_detach(no_grad).message
    assert "expected" in checks.d_step_detach(lambda G, D, x, z: -right(G, D, x, z)).message


def test_conditional_input_checker():
    right = lambda z, y, k: torch.cat([z, F.one_hot(y, k).float()], dim=1)
    assert checks.conditional_input(right)
    cases = {
        "z alone": lambda z, y, k: z,
        "dim=1": lambda z, y, k: torch.cat([z, F.one_hot(y, k).float()[:, :5]], dim=0),
        "one-hot code": lambda z, y, k: torch.cat([z, y[:, None].float()], dim=1),
        "num_classes": lambda z, y, k: torch.cat([z, F.one_hot(y).float()], dim=1),
        "comes first": lambda z, y, k: torch.cat([F.one_hot(y, k).float(), z], dim=1),
        "add .float()": lambda z, y, k: torch.cat([z, F.one_hot(y.float(), k)], dim=1),
        "not written yet": lambda z, y, k: (_ for _ in ()).throw(NotImplementedError()),
    }
    for hint, wrong in cases.items():
        result = checks.conditional_input(wrong)
        assert not result and hint in result.message, (hint, result)


def test_mismatch_prediction_checker(mnist5k):
    assert checks.mismatch_prediction("higher") and checks.mismatch_prediction(" Higher ")
    for answer in ("Higher.", "HIGHER!", "higher\n", "'higher'", "**higher**", "Higher — D rejects it",
                   "larger", "It is higher.", "greater", "it goes up", "bigger loss", "higher."):
        assert checks.mismatch_prediction(answer), answer
    for answer in ("lower", "Lower.", "same", "The same.", "no change", "smaller", "equal"):
        result = checks.mismatch_prediction(answer)
        assert not result and "think of D*" in result.message, answer
    for answer in ("maybe", "", "not higher", "higher or lower", None, 1):
        assert "one of" in checks.mismatch_prediction(answer).message, answer

    class LabelCheckingD(torch.nn.Module):  # a D that has learned the labels: +5 if y is right, −5 if not
        n_classes = 10

        def __init__(self, data):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(1))
            self.lookup = {x.numpy().tobytes(): int(c) for x, c in zip(data.x, data.y)}

        def forward(self, x, y):
            u = ((x + 1) * 127.5).round().to(torch.uint8)
            true = torch.tensor([self.lookup[v.numpy().tobytes()] for v in u])
            return torch.where(true == y, 5.0, -5.0) + self.w

    result = checks.mismatch_prediction("higher", D=LabelCheckingD(mnist5k), data=mnist5k, n=64)
    assert result and "0.007 with the right labels, 5.007 with wrong ones" in result.message


def test_transposed_conv_size_checker():
    assert checks.transposed_conv_size(lambda n, k, s, p, op: (n - 1) * s - 2 * p + k + op)
    cases = {
        "ordinary convolution": lambda n, k, s, p, op: (n + 2 * p - k) // s + 1,
        "removes": lambda n, k, s, p, op: (n - 1) * s + 2 * p + k + op,
        "output padding": lambda n, k, s, p, op: (n - 1) * s - 2 * p + k,
        "n − 1": lambda n, k, s, p, op: n * s - 2 * p + k + op,
        "not written yet": lambda *a: (_ for _ in ()).throw(NotImplementedError()),
    }
    for hint, wrong in cases.items():
        result = checks.transposed_conv_size(wrong)
        assert not result and hint in result.message, (hint, result)


def test_generator_block_checker():
    nn = torch.nn
    assert checks.generator_block(lambda i, o: nn.Sequential(nn.ConvTranspose2d(i, o, 4, 2, 1, bias=False),
                                                             nn.BatchNorm2d(o), nn.ReLU()))

    class FunctionalReLU(nn.Module):  # a right block: F.relu in forward, no nn.ReLU module
        def __init__(self, i, o):
            super().__init__()
            self.conv = nn.ConvTranspose2d(i, o, 4, 2, 1, bias=False)
            self.bn = nn.BatchNorm2d(o)

        def forward(self, x):
            return F.relu(self.bn(self.conv(x)))

    class FunctionalBN(nn.Module):  # BatchNorm without affine, as F.batch_norm in forward
        def __init__(self, i, o):
            super().__init__()
            self.conv = nn.ConvTranspose2d(i, o, 4, 2, 1, bias=False)

        def forward(self, x):
            return torch.relu(F.batch_norm(self.conv(x), None, None, training=True))

    for right in (FunctionalReLU, FunctionalBN,
                  lambda i, o: nn.Sequential(nn.ConvTranspose2d(i, o, 4, 2, 1, bias=False), nn.BatchNorm2d(o),
                                             nn.ReLU(True)),
                  lambda i, o: nn.Sequential(nn.Sequential(nn.ConvTranspose2d(i, o, 4, 2, 1, bias=False)),
                                             nn.BatchNorm2d(o, momentum=0.2), nn.ReLU())):
        result = checks.generator_block(right)
        assert result, (right, result)

    class FunctionalLeaky(FunctionalReLU):
        def forward(self, x):
            return F.leaky_relu(self.bn(self.conv(x)), 0.2)

    class FunctionalNoAct(FunctionalReLU):
        def forward(self, x):
            return self.bn(self.conv(x))

    class FunctionalWrongOrder(FunctionalReLU):
        def forward(self, x):
            return self.bn(F.relu(self.conv(x)))

    for hint, wrong in {"LeakyReLU is for": FunctionalLeaky, "add the ReLU": FunctionalNoAct,
                        "order": FunctionalWrongOrder}.items():
        result = checks.generator_block(wrong)
        assert not result and hint in result.message, (hint, result)
    with_bias = checks.generator_block(lambda i, o: nn.Sequential(nn.ConvTranspose2d(i, o, 4, 2, 1),
                                                                  nn.BatchNorm2d(o), nn.ReLU()))
    assert with_bias and "bias" in with_bias.message
    cases = {
        "side doubled": lambda i, o: nn.Sequential(nn.ConvTranspose2d(i, o, 3, 2, 1), nn.BatchNorm2d(o), nn.ReLU()),
        "BatchNorm2d": lambda i, o: nn.Sequential(nn.ConvTranspose2d(i, o, 4, 2, 1), nn.ReLU()),
        "LeakyReLU is for": lambda i, o: nn.Sequential(nn.ConvTranspose2d(i, o, 4, 2, 1), nn.BatchNorm2d(o),
                                                       nn.LeakyReLU(0.2)),
        "not Upsample": lambda i, o: nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(i, o, 3, 1, 1),
                                                   nn.BatchNorm2d(o), nn.ReLU()),
        "order": lambda i, o: nn.Sequential(nn.ConvTranspose2d(i, o, 4, 2, 1), nn.ReLU(), nn.BatchNorm2d(o)),
        "fails on": lambda i, o: nn.Sequential(nn.ConvTranspose2d(i + 1, o, 4, 2, 1)),
        "nn.Module": lambda i, o: "a block",
    }
    for hint, wrong in cases.items():
        result = checks.generator_block(wrong)
        assert not result and hint in result.message, (hint, result)


def test_critic_loss_checker():
    assert checks.critic_loss(lambda r, f: f.mean() - r.mean())
    cases = {
        "sign is flipped": lambda r, f: r.mean() - f.mean(),
        "BCE loss": lambda r, f: F.softplus(-r).mean() + F.softplus(f).mean(),
        "summed": lambda r, f: f.sum() - r.sum(),
        "only the fake term": lambda r, f: f.mean(),
    }
    for hint, wrong in cases.items():
        result = checks.critic_loss(wrong)
        assert not result and hint in result.message, (hint, result)


def test_clip_weights_checker():
    def right(m, c):
        with torch.no_grad():
            for p in m.parameters():
                p.clamp_(-c, c)

    def weights_only(m, c):
        for p in m.parameters():
            if p.dim() > 1:
                p.data.clamp_(-c, c)

    def autograd_inplace(m, c):
        for p in m.parameters():
            p.clamp_(-c, c)

    def rebind(m, c):
        for p in m.parameters():
            p = p.clamp(-c, c)  # noqa: F841

    def rescale(m, c):
        for p in m.parameters():
            p.data.mul_(c / p.data.abs().max())

    assert checks.clip_weights(right)
    for hint, wrong in {"biases are not": weights_only, "torch.no_grad()": autograd_inplace,
                        "did not change": rebind, "don't rescale": rescale}.items():
        result = checks.clip_weights(wrong)
        assert not result and hint in result.message, (hint, result)


def test_gradient_penalty_checker():
    import ganlessons as gl

    assert checks.gradient_penalty(gl.losses.gradient_penalty)

    def penalty(norm_of, create_graph=True, scale=1.0, reduce=torch.mean):
        def fn(critic, x_real, x_fake):
            eps = torch.rand(x_real.shape[0], 1, 1, 1)
            x_hat = (eps * x_real + (1 - eps) * x_fake).requires_grad_(True)
            (g,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=create_graph)
            return scale * reduce((norm_of(g) - 1) ** 2)
        return fn

    flat = lambda g: g.flatten(1).norm(dim=1)  # noqa: E731
    cases = {
        "over dim=1": penalty(lambda g: g.norm(2, dim=1)),
        "create_graph=True": penalty(flat, create_graph=False),
        "multiplied by λ": penalty(flat, scale=10.0),
        "summed over the batch": penalty(flat, reduce=torch.sum),
        "one norm over the whole batch": penalty(lambda g: g.flatten().norm()),
    }
    for hint, wrong in cases.items():
        result = checks.gradient_penalty(wrong)
        assert not result and hint in result.message, (hint, result)
