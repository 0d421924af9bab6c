"""ganlessons: the helper package of an interactive GAN course (``import ganlessons as gl``).

Modules: ``data`` (datasets on the device), ``models`` (MLP, DCGAN, PGGAN, StyleGAN, LeNet), ``layers`` (PixelNorm, minibatch stddev, equalized LR), ``losses``,
``train`` (the one training loop), ``fast`` (its GPU fast path: bf16, CUDA graphs), ``distributed`` (DDP on
torchrun), ``metrics`` (domain FID, KID, IS, precision/recall, density/coverage, FID∞, class
histograms, mode coverage), ``evaluation`` (lesson 08's controlled experiments and the course table),
``viz`` (grids, curves, timelines), ``theory`` (D*, JSD, the generator losses), ``toy``
(2-D GANs with D's surface), ``widgets`` (sliders), ``checks`` (exercise checkers), ``live``
(training the class can watch), ``lesson`` (what every lesson does at its start and end),
``lipschitz`` (operator norms of a network's layers), ``pretrained`` (trained generators
shipped with the package), ``progressive`` (PGGAN's schedule and fade-in), ``styles`` (what lesson 07 measures on a StyleGAN).
"""

from . import checks, convt, data, losses, metrics, models, theory, toy, train, utils, viz, widgets
from . import augment, evaluation, layers, lesson, lipschitz, live, pretrained, progressive, styles
from . import distributed, fast
from .utils import pick_device, seed_everything

__version__ = "0.1.0"
__all__ = ["augment", "checks", "convt", "data", "losses", "metrics", "models", "theory", "toy", "train", "utils", "viz", "widgets",
           "evaluation", "layers", "lesson", "lipschitz", "live", "pretrained", "progressive", "styles", "distributed",
           "fast", "pick_device",
           "seed_everything"]
