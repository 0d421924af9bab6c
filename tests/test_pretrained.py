"""ganlessons.pretrained: shipped generators load without pickle, checked against card and architecture."""

import json
import shutil
from pathlib import Path

import pytest
import torch
import torch.nn as nn

import ganlessons as gl
from ganlessons import pretrained as P

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = list(P.RECIPES)


# ----------------------------------------------------------------------------- the shipped files


@pytest.mark.parametrize("name", SHIPPED)
def test_every_lesson_generator_is_shipped_and_loads_ready(name):
    G = P.load(name, device="cpu")
    recipe = P.RECIPES[name]
    assert type(G).__name__ == recipe["generator"][0]
    assert not G.training and not any(p.requires_grad for p in G.parameters())
    assert G.card["name"] == name and G.card["lesson"] == recipe["lesson"]
    z = torch.randn(6, G.latent_dim)
    x = G(z, torch.arange(6)) if getattr(G, "n_classes", 0) else G(z)
    if recipe.get("size") == 32:  # 28×28 digits padded to 32×32 (PGGAN: a linear toRGB, clipped as the official code does)
        assert x.shape == (6, 1, 32, 32)
        if name == "pggan":
            assert (G.resolution, G.alpha) == (32, 1.0)
        x = P._as_digits(x)
    assert x.shape == (6, 1, 28, 28) and x.dtype == torch.float32 and x.abs().max() <= 1
    # a trained generator, not the initial weights: the samples differ from each other and use both ends
    assert x.std(0).mean() > 0.05 and (x > 0.5).float().mean() > 0.03


def test_available_lists_every_card_with_its_figures():
    cards = P.available()
    assert list(cards) == SHIPPED
    for name, c in cards.items():
        f = c["figures"]
        for key in ("floor", "domain_fid", "histogram_min", "histogram_max", "memorisation"):
            assert key in f, (name, key)
        for key in ("generator_steps", "wall_seconds", "device", "ganlessons", "torch"):
            assert key in c["training"], (name, key)
        assert c["dataset"]["name"] == "mnist-5k" and "4000" in c["dataset"]["split"]
        assert c["recipe"]["seed"] == 0 and c["recipe"]["batch_size"] > 0 and c["recipe"]["optimizer"]
        assert c["size_bytes"] == P.weights_path(name).stat().st_size
        assert len(f["histogram"]) == 10 and abs(sum(f["histogram"]) - 1) < 1e-3
    assert "class_accuracy" in cards["cgan"]["figures"]


def test_shipped_weights_fit_the_budget_and_are_package_data():
    total = sum(p.stat().st_size for p in P.FOLDER.glob("*.safetensors"))
    assert total <= 15e6, f"shipped weights take {total / 1e6:.1f} MB, the budget is 15 MB"
    import tomllib
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["ganlessons"]
    assert "assets/pretrained/*.safetensors" in data and "assets/pretrained/*.json" in data


def test_weights_are_float16_safetensors_without_pickle():
    from safetensors import safe_open
    with safe_open(str(P.weights_path("dcgan")), "pt") as fh:
        assert fh.metadata()["format"] == P.FORMAT
        dtypes = {fh.get_tensor(k).dtype for k in fh.keys()}
    assert torch.float16 in dtypes and torch.float32 not in dtypes


# ----------------------------------------------------------------------------- bad names and bad files


@pytest.mark.parametrize("bad", ["dcgann", "stylegan2", "", "WGAN GP"])
def test_unknown_name_lists_the_names(bad):
    with pytest.raises(ValueError, match="dcgan.*wgan-gp|cgan, dcgan, gan, wgan, wgan-gp"):
        P.load(bad)


def test_name_spellings_are_forgiven():
    assert P._check_name("WGAN_GP") == "wgan-gp" and P._check_name(" DCGAN ") == "dcgan"
    with pytest.raises(TypeError, match="name must be a str"):
        P.load(3)


@pytest.fixture
def folder(tmp_path):
    for name in ("dcgan", "gan"):
        for path in (P.weights_path(name), P.card_path(name)):
            shutil.copy(path, tmp_path / path.name)
    return tmp_path


def _rehash(folder, name):
    card = json.loads((folder / f"{name}.json").read_text())
    card["sha256"] = P._sha256(folder / f"{name}.safetensors")
    (folder / f"{name}.json").write_text(json.dumps(card))


def test_a_card_without_its_hash_is_refused(folder):
    card = json.loads((folder / "dcgan.json").read_text())
    card.pop("sha256")
    (folder / "dcgan.json").write_text(json.dumps(card))
    with pytest.raises(P.PretrainedError, match=r"dcgan\.json has no sha256"):
        P.load("dcgan", folder=folder)


def test_damaged_weights_are_caught_by_the_card_hash(folder):
    path = folder / "dcgan.safetensors"
    blob = bytearray(path.read_bytes())
    blob[-10] ^= 0xFF  # one flipped byte in the weights: still a valid file, a different model
    path.write_bytes(bytes(blob))
    with pytest.raises(P.PretrainedError, match=r"dcgan\.safetensors.*damaged"):
        P.load("dcgan", folder=folder)


def test_truncated_file_names_the_file(folder):
    path = folder / "dcgan.safetensors"
    path.write_bytes(path.read_bytes()[:1000])
    _rehash(folder, "dcgan")  # a card that vouches for the damaged file: the reader itself must refuse it
    with pytest.raises(P.PretrainedError, match=r"dcgan\.safetensors.*not a readable safetensors"):
        P.load("dcgan", folder=folder)


def test_wrong_shape_weights_are_refused_not_loaded(folder):
    # the MLP GAN's weights under the DCGAN's card: a consistent file, for another architecture
    shutil.copy(folder / "gan.safetensors", folder / "dcgan.safetensors")
    _rehash(folder, "dcgan")
    with pytest.raises(P.PretrainedError, match=r"dcgan\.safetensors does not fit DCGANGenerator28.*missing"):
        P.load("dcgan", folder=folder)


def test_same_keys_wrong_shapes_are_refused(tmp_path):
    G = gl.models.DCGANGenerator28(100, 16)  # nf 16: every key of nf 32, other shapes
    P.save("dcgan", G, {"recipe": P.RECIPES["dcgan"], "lesson": "03_dcgan"}, folder=tmp_path)
    with pytest.raises(P.PretrainedError, match="wrong shapes"):
        P.load("dcgan", folder=tmp_path)


def test_missing_files_say_how_to_rebuild(tmp_path):
    with pytest.raises(FileNotFoundError, match="ganlessons pretrain wgan"):
        P.load("wgan", folder=tmp_path)
    assert P.available(tmp_path) == {}


def test_save_then_load_round_trips_through_float16(tmp_path):
    gl.seed_everything(0)
    G = gl.models.ConditionalMLPGenerator(latent_dim=100, n_classes=10, embedding="onehot")
    G.eval()
    wpath, cpath = P.save("cgan", G, {"recipe": P.RECIPES["cgan"], "lesson": "02_cgan"}, folder=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cgan.json", "cgan.safetensors"]  # no temp files left
    H = P.load("cgan", folder=tmp_path)
    for (k, a), b in zip(G.state_dict().items(), H.state_dict().values()):
        if a.is_floating_point():
            assert torch.equal(a.half().float(), b), k
        else:
            assert torch.equal(a, b), k


# ----------------------------------------------------------------------------- EMA, schedule, BatchNorm


def test_ema_follows_the_recurrence():
    G = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        G.weight.fill_(0.0)
    ema = P.EMA(G, beta=0.9)
    trainer = type("T", (), {"G": G})()
    for w in (1.0, 1.0, 3.0):
        with torch.no_grad():
            G.weight.fill_(w)
        ema.after_step(trainer)
    # 0 → 0.1 → 0.19 → 0.9·0.19 + 0.1·3 = 0.471
    assert ema.G.weight.item() == pytest.approx(0.471, abs=1e-6)
    with pytest.raises(ValueError, match="beta must be in"):
        P.EMA(G, beta=1.0)


def test_linear_decay_reaches_zero_at_the_end():
    opt_d = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=1e-3)
    opt_g = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=2e-3)
    t = type("T", (), {"opt_d": opt_d, "opt_g": opt_g, "step": 0})()
    sched = P.LinearDecay(100, decay_from=0.5)
    seen = {}
    for step in (0, 50, 75, 99):
        t.step = step
        sched.before_step(t)
        seen[step] = (opt_d.param_groups[0]["lr"], opt_g.param_groups[0]["lr"])
    assert seen[0] == seen[50] == (1e-3, 2e-3)
    assert seen[75] == pytest.approx((5e-4, 1e-3)) and seen[99] == pytest.approx((2e-5, 4e-5))
    with pytest.raises(ValueError, match="decay_from"):
        P.LinearDecay(10, decay_from=1.5)


def test_recalibrated_batchnorm_statistics_are_exact_averages():
    G = gl.models.MLPGenerator(latent_dim=4, hidden=(8, 16), out_shape=(1, 2, 2))
    bn = [m for m in G.modules() if isinstance(m, nn.BatchNorm1d)][0]
    P.recalibrate_batchnorm(G, n_batches=3, batch_size=50, seed=5)
    assert not G.training and bn.momentum == 0.1  # put back
    gen = torch.Generator().manual_seed(5 + 77)
    zs = [torch.randn(50, 4, generator=gen) for _ in range(3)]
    h = [G.net[2](G.net[1](G.net[0](z))) for z in zs]  # the input of the BatchNorm
    assert torch.allclose(bn.running_mean, torch.stack([x.mean(0) for x in h]).mean(0), atol=1e-5)
    assert torch.allclose(bn.running_var, torch.stack([x.var(0) for x in h]).mean(0), atol=1e-5)


def test_recalibration_does_not_touch_the_global_rng():
    G = gl.models.DCGANGenerator28(100, 8)
    torch.manual_seed(3)
    a = torch.rand(3)
    torch.manual_seed(3)
    P.recalibrate_batchnorm(G, n_batches=1, batch_size=4)
    assert torch.equal(torch.rand(3), a)


# ----------------------------------------------------------------------------- nearest neighbours


def test_nearest_real_in_pixels_on_known_images():
    ref = -torch.ones(3, 1, 28, 28)
    ref[1, 0, 0, 0] = 1.0            # differs from ref[0] by 2 in one pixel
    ref[2] = 1.0
    x = ref[[1, 2]].clone()
    x[0, 0, 5, 5] = 1.0              # ref[1] plus one more pixel: distance 2 to ref[1], √8 to ref[0]
    d, j = gl.metrics.nearest_real(x, ref, space="pixel")
    assert j.tolist() == [1, 2] and d.tolist() == pytest.approx([2.0, 0.0])
    d2, j2 = gl.metrics.nearest_real(x, ref, space="pixel", k=2)
    assert j2[0].tolist() == [1, 0] and d2[0].tolist() == pytest.approx([2.0, 8 ** 0.5])


def test_nearest_real_catches_a_copy_in_feature_space():
    data = gl.data.load("mnist-5k", device="cpu", n=300)
    x = data.images()
    d, j = gl.metrics.nearest_real(x[:20], x, space="feature")
    assert torch.equal(j, torch.arange(20)) and d.max() < 1e-3
    with pytest.raises(ValueError, match="space='colour' is not allowed"):
        gl.metrics.nearest_real(x, x, space="colour")
    with pytest.raises(ValueError, match="k=400 is more than the 300"):
        gl.metrics.nearest_real(x, x, k=400)


def test_a_copying_generator_is_caught_by_the_memorisation_check():
    """FID rewards a G that replays training digits; the nearest-training distance exposes it."""
    train, _ = gl.data.load("mnist-5k", device="cpu").split(P.TRAIN_SPLIT)

    class Copier(nn.Module):
        latent_dim = 100

        def __init__(self):
            super().__init__()
            self.bank = nn.Parameter(train.images(), requires_grad=False)

        def forward(self, z):
            return self.bank[(z[:, 0].abs() * 1e6).long() % self.bank.shape[0]]

    f = P.evaluate(Copier(), n=500, n_histogram=500)
    assert f["fid_over_floor"] < 1.5                      # FID calls it nearly perfect …
    assert f["memorisation"]["feature"]["ratio"] < 0.1    # … the memorisation check does not
    assert f["memorisation"]["pixel"]["ratio"] < 0.1
    assert 0.05 <= f["histogram_min"] and f["histogram_max"] <= 0.15


# ----------------------------------------------------------------------------- the command


def test_pretrain_command_writes_a_loadable_generator_and_card(tmp_path, capsys):
    from ganlessons.cli import main
    assert main(["pretrain", "dcgan", "--steps", "20", "--device", "cpu", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "dcgan: 20 steps" in out and "domain_fid" in out
    card = P.card("dcgan", tmp_path)
    assert card["training"]["generator_steps"] == 20 and card["recipe"]["n_steps"] == 20
    assert card["recipe"]["optimizer"] == P.RECIPES["dcgan"]["optimizer"]
    G = P.load("dcgan", folder=tmp_path)
    assert G(torch.randn(2, 100)).shape == (2, 1, 28, 28)


def test_pretrain_command_refuses_unknown_names(capsys):
    from ganlessons.cli import main
    with pytest.raises(SystemExit):
        main(["pretrain", "biggan"])
    assert "unknown pretrained generator name='biggan'" in capsys.readouterr().err


# ----------------------------------------------------------------------------- lesson helpers


def test_choose_uses_the_shipped_generator_only_for_digits(capsys):
    own, shipped = gl.models.DCGANGenerator28(100, 8), P.load("dcgan")
    digits = type("Data", (), {"name": "mnist-5k"})()
    clothes = type("Data", (), {"name": "fashion-mnist"})()
    assert P.choose(own, shipped, False, digits, own="mine") == (own, "mine")
    G, who = P.choose(own, shipped, True, digits)
    assert G is shipped and who.startswith("shipped dcgan: ") and "× the real-data floor" in who
    assert P.choose(own, shipped, True, clothes, own="mine") == (own, "mine")
    assert "draw MNIST digits, this lesson trains on fashion-mnist" in capsys.readouterr().out
    with pytest.raises(TypeError, match="use_pretrained must be True or False, got 'yes'"):
        P.choose(own, shipped, "yes", digits)


def test_sampler_is_eval_mode_without_a_graph_and_asks_for_labels():
    G = P.load("cgan")
    G.train()
    sample = P.sampler(G)
    z = torch.randn(3, 100)
    x = sample(z, torch.tensor([1, 2, 3]))
    assert not x.requires_grad and G.training  # eval inside, the mode put back
    assert torch.equal(x, sample(z, torch.tensor([1, 2, 3])))
    with pytest.raises(ValueError, match="conditional: give labels y"):
        sample(z)


def test_compare_and_show_nearest_draw_figures():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = P.compare(gl.models.ConditionalMLPGenerator(100, 10), P.load("cgan"), n=16)
    assert len(fig.axes) == 2 and "and labels" in fig._suptitle.get_text()
    fig2 = P.show_nearest(P.load("gan"), n=2, k=3)
    assert len(fig2.axes) == 2 * 4
    assert len(P.show_nearest(P.load("gan"), n=1, k=2).axes) == 3
    plt.close("all")


def test_remeasure_rewrites_the_figures_not_the_weights(tmp_path, capsys):
    from ganlessons.cli import main
    for path in (P.weights_path("dcgan"), P.card_path("dcgan")):
        shutil.copy(path, tmp_path / path.name)
    card = json.loads((tmp_path / "dcgan.json").read_text())
    card["figures"] = {"domain_fid": -1}
    (tmp_path / "dcgan.json").write_text(json.dumps(card))
    before = (tmp_path / "dcgan.safetensors").read_bytes()
    assert main(["pretrain", "dcgan", "--measure-only", "--out", str(tmp_path)]) == 0
    f = P.card("dcgan", tmp_path)["figures"]
    assert (tmp_path / "dcgan.safetensors").read_bytes() == before
    assert f == P.card("dcgan")["figures"]  # the same weights measure the same, in any process
    assert f["draws"] == 5 and f["floor_range"][0] <= f["floor"] <= f["floor_range"][1]
    assert f["domain_fid_range"][0] <= f["domain_fid"] <= f["domain_fid_range"][1]
    assert "card rewritten" in capsys.readouterr().out


def test_pretrain_runs_the_progressive_recipe(tmp_path, capsys):
    """pggan's recipe goes through the same command: 32×32 data faded by the schedule, G saved at full size."""
    import copy
    from ganlessons.cli import main
    recipe = copy.deepcopy(P.RECIPES["pggan"])
    assert main(["pretrain", "pggan", "--steps", "6", "--device", "cpu", "--out", str(tmp_path), "--quiet"]) == 0
    card = P.card("pggan", tmp_path)
    assert card["recipe"]["progressive"]["images_per_phase"] == P.RECIPES["pggan"]["progressive"]["images_per_phase"]
    assert card["recipe"]["n_steps"] == 6 and card["training"]["images_seen"] == 6 * card["recipe"]["batch_size"]
    G = P.load("pggan", folder=tmp_path)
    assert (G.resolution, G.alpha) == (32, 1.0) and G(torch.randn(2, G.latent_dim)).shape == (2, 1, 32, 32)
    assert P.RECIPES["pggan"] == recipe  # training a copy: the built-in recipe is not modified


def test_pretrain_runs_the_stylegan_recipe_and_keeps_the_tracked_w_average(tmp_path):
    """stylegan's recipe: R1 through the one trainer; w̄ (a buffer, tracked while training) is saved
    with the weights, so truncation works on the loaded generator."""
    from ganlessons.cli import main
    assert main(["pretrain", "stylegan", "--steps", "4", "--device", "cpu", "--out", str(tmp_path), "--quiet"]) == 0
    card = P.card("stylegan", tmp_path)
    assert card["recipe"]["regularizers"] == P.RECIPES["stylegan"]["regularizers"]
    assert card["training"]["images_seen"] == 4 * card["recipe"]["batch_size"]
    G = P.load("stylegan", folder=tmp_path)
    assert not G.training and G.w_avg.abs().sum() > 0
    z = torch.randn(3, G.latent_dim)
    x0 = G(z, psi=0.0, noise=[None] * G.num_layers)
    assert torch.allclose(x0, x0[:1].expand_as(x0), atol=1e-5)   # ψ = 0: every z gives the average image
