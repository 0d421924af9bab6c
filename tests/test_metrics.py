import pytest
import torch
import torch.nn.functional as F

import ganlessons as gl
from ganlessons import metrics as M


@pytest.fixture(scope="module")
def halves(mnist5k):
    x = mnist5k.images()
    return x[:2500], x[2500:]


def test_shipped_mnist_classifier_held_out_accuracy(mnist5k):
    _, held_out = mnist5k.split(4000)  # the classifier was trained on the first 4,000 only
    acc = M.classifier_accuracy(M.domain_classifier("mnist"), held_out)
    assert acc >= 0.97, acc


def test_real_vs_real_far_below_real_vs_noise(halves):
    a, b = halves
    real = M.domain_fid(a, b)
    noise = M.domain_fid(torch.rand_like(a) * 2 - 1, b)
    assert real >= 0 and noise > 20 * real, (real, noise)


def _blur(x, sigma):
    if sigma == 0:
        return x
    r = 3
    t = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-t ** 2 / (2 * sigma ** 2))
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (r, r, 0, 0), value=-1), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, r, r), value=-1), k.view(1, 1, -1, 1))


def test_fid_grows_monotonically_with_noise_and_blur(halves):
    a, b = halves
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(a.shape, generator=g)
    by_noise = [M.domain_fid((a + s * noise).clamp(-1, 1), b) for s in (0.0, 0.1, 0.25, 0.5, 1.0)]
    by_blur = [M.domain_fid(_blur(a, s), b) for s in (0.0, 0.6, 1.0, 1.5, 2.5)]
    assert by_noise == sorted(by_noise) and by_noise[-1] > 5 * by_noise[0], by_noise
    assert by_blur == sorted(by_blur) and by_blur[-1] > 5 * by_blur[0], by_blur


def test_fid_accepts_32px_and_rejects_bad_input(halves, mnist5k):
    a, b = halves
    padded = F.pad(a, (2, 2, 2, 2), value=-1)
    assert M.domain_fid(padded, b) == pytest.approx(M.domain_fid(a, b), rel=1e-4)
    with pytest.raises(ValueError, match=r"x_fake must be in \[-1, 1\]"):
        M.domain_fid(a * 255, b)
    with pytest.raises(ValueError, match="x_real must have shape"):
        M.domain_fid(a, b.flatten(1))
    with pytest.raises(TypeError, match="x_fake must be float"):
        M.domain_fid(mnist5k.x[:10], b)
    with pytest.raises(ValueError, match="domain='cifar'"):
        M.domain_fid(a, b, domain="cifar")


def test_class_histogram(mnist5k):
    h = M.class_histogram(mnist5k.images(1000))
    assert h.shape == (10,) and h.sum().item() == pytest.approx(1.0)
    assert h.min() > 0.05  # real data is balanced
    sevens = mnist5k.images()[mnist5k.y == 7][:200]
    h7 = M.class_histogram(sevens)
    assert h7.argmax().item() == 7 and h7[7] > 0.95  # a "collapsed" sample set shows as a spike


class LookupGenerator(torch.nn.Module):
    """A stand-in conditional G that returns a real image of the asked-for digit (or a wrong one)."""

    def __init__(self, data, shift=0):
        super().__init__()
        self.latent_dim, self.n_classes, self.shift = 4, 10, shift
        self.bank = [data.images()[data.y == c][:50] for c in range(10)]
        self.dummy = torch.nn.Parameter(torch.zeros(1))

    def forward(self, z, y):
        idx = (z[:, 0].abs() * 1000).long() % 50
        return torch.stack([self.bank[(int(c) + self.shift) % 10][i] for c, i in zip(y, idx)])


def test_class_accuracy(mnist5k):
    assert M.class_accuracy(LookupGenerator(mnist5k), n_per_class=20) > 0.95
    assert M.class_accuracy(LookupGenerator(mnist5k, shift=1), n_per_class=20) < 0.05
    with pytest.raises(ValueError, match="conditional generator"):
        M.class_accuracy(gl.models.MLPGenerator(4))


def test_class_confusion_rows_and_the_off_by_one_generator(mnist5k):
    conf = M.class_confusion(LookupGenerator(mnist5k, shift=1), n_per_class=20)
    assert conf.shape == (10, 10) and torch.allclose(conf.sum(1), torch.ones(10))
    # Asked for c, it draws c + 1: the mass sits one column right of the diagonal.
    assert conf[torch.arange(10), (torch.arange(10) + 1) % 10].mean() > 0.95


def test_modes_covered_known_cases():
    ring = gl.data.load("ring-8", n=2000, device="cpu")
    full = M.modes_covered(ring.x, ring.centers, ring.std)
    assert full["modes_covered"] == 8 and full["high_quality"] > 0.98
    collapsed = ring.x[ring.y < 3]
    assert M.modes_covered(collapsed, ring.centers, ring.std)["modes_covered"] == 3
    blob = torch.zeros(500, 2)  # the center of the ring: no mode at all
    out = M.modes_covered(blob, ring.centers, ring.std)
    assert out["modes_covered"] == 0 and out["high_quality"] == 0.0


def test_training_a_classifier_from_scratch_learns(mnist5k):
    train, held_out = mnist5k.split(2000)
    net = M.train_domain_classifier(train, epochs=4)
    assert M.classifier_accuracy(net, held_out) > 0.85


def test_fid_report_real_sampler_near_the_floor_noise_far(mnist5k):
    class Sampler:  # stands in for a trainer: real digits of the asked-for class, or noise
        latent_dim, n_classes = 4, 10

        def __init__(self, conditional, noise=False):
            self.conditional, self.noise = conditional, noise
            self.asked = []
            self.bank = LookupGenerator(mnist5k)

        def sample(self, z, y=None):
            self.asked.append(None if y is None else y.clone())
            if self.noise:
                return torch.rand(z.shape[0], 1, 28, 28) * 2 - 1
            return self.bank(z, y if y is not None else torch.arange(z.shape[0]) % 10)

    good = Sampler(conditional=True)
    report = M.fid_report(good, mnist5k, n_eval=600)
    assert report["n"] == 600 and set(report) == {"domain_fid", "domain_fid_real_vs_real", "n"}
    assert torch.bincount(torch.cat(good.asked)).tolist() == [60] * 10  # every class equally often
    bad = M.fid_report(Sampler(conditional=False, noise=True), mnist5k, n_eval=600)
    assert report["domain_fid"] < 0.2 * bad["domain_fid"]
    assert M.fid_report(good, mnist5k.split(300)[0], n_eval=600)["n"] == 150  # at most half the data


def test_fid_report_leaves_the_global_rng_alone(mnist5k):
    """Evaluating during training must not change the training: no draws from the global RNG."""
    import ganlessons as gl

    gl.seed_everything(0)
    G, D = gl.models.DCGANGenerator28(16, nf=8), gl.models.DCGANDiscriminator28(nf=8)
    trainer = gl.train.Trainer(G, D, mnist5k, batch_size=8, device="cpu", progress=False)
    state = torch.get_rng_state()
    first = gl.metrics.fid_report(trainer, mnist5k, n_eval=100)
    assert torch.equal(state, torch.get_rng_state())
    assert gl.metrics.fid_report(trainer, mnist5k, n_eval=100) == first  # and the same z every time


def test_training_the_classifier_leaves_the_global_rng_alone(mnist5k):
    import ganlessons as gl

    state = torch.get_rng_state()
    gl.metrics.train_domain_classifier(mnist5k.split(200)[0], epochs=1)
    assert torch.equal(state, torch.get_rng_state())


def test_domain_fid_reuses_the_real_features_but_never_for_other_images():
    from ganlessons import metrics as M
    x = gl.data.load("mnist-5k", device="cpu").images()
    a, b = x[:600], x[600:1200]
    M._REAL_FID.clear()
    first = gl.metrics.domain_fid(a, b)
    assert len(M._REAL_FID) == 1
    assert gl.metrics.domain_fid(a, b) == first and len(M._REAL_FID) == 1   # cached, same value
    assert gl.metrics.domain_fid(a, b.clone()) == first                      # same content, same key
    moved = b.clone()
    moved[:, :, :, :] = b.roll(1, dims=3)                                      # same pixels, other places
    other = gl.metrics.domain_fid(a, moved)
    assert other != first and len(M._REAL_FID) == 2
    M._REAL_FID.clear()
    assert gl.metrics.domain_fid(a, moved) == other                          # the cache changes nothing
