"""Exercise checkers: call a learner's function on fresh inputs and say whether it is right.

A checker never raises on a wrong answer (a notebook with an unfinished exercise still runs
top to bottom); it returns a :class:`Check` that prints as ✅ or ❌ with the reason, and is
truthy only when the answer is right. The diagnoses name the usual slips: a flipped sign,
swapped labels, a sum instead of a mean, logits treated as probabilities, a missing detach.
A right answer written another right way passes too (a loss up to a positive factor, F.relu in
``forward``, a safety ε in a division, "Higher.").

No checker touches the learner's random state: the learner's code (and every module a checker
builds) runs with the global torch/NumPy/``random`` states saved, seeded for a reproducible
verdict, and restored afterwards; the checkers' own inputs come from their own ``torch.Generator``.
Running or skipping an exercise cell leaves the notebook's later random draws unchanged.

Every checker records its verdict for ``ganlessons grade`` (``_record.py``): in the metadata of
the shown Check's output, and, only while a notebook is being graded, in an output of its own, so
``ok = gl.checks.x(f)`` and ``assert gl.checks.x(f)`` are graded too. A learner sees no difference.
"""

from __future__ import annotations

from ._common import Check
from .cgan import conditional_input, mismatch_prediction
from .dcgan import generator_block, transposed_conv_size
from .evaluation import frechet_distance, precision, unbiased_mmd
from .pggan import fade_in, minibatch_stddev, pixel_norm
from .stylegan import adain, style_mixing, truncation
from .gan import d_loss, d_step_detach, g_loss, optimal_discriminator
from .wgan import clip_weights, critic_loss, gradient_penalty

from ._record import recorded as _recorded

# Every checker records its verdict for ``ganlessons grade`` (checks/_record.py); the wrapped
# function keeps its name, signature and docstring.
d_loss, g_loss, optimal_discriminator, d_step_detach = map(_recorded, (d_loss, g_loss, optimal_discriminator,
                                                                       d_step_detach))
conditional_input, mismatch_prediction = map(_recorded, (conditional_input, mismatch_prediction))
transposed_conv_size, generator_block = map(_recorded, (transposed_conv_size, generator_block))
critic_loss, clip_weights, gradient_penalty = map(_recorded, (critic_loss, clip_weights, gradient_penalty))
fade_in, pixel_norm, minibatch_stddev = map(_recorded, (fade_in, pixel_norm, minibatch_stddev))
adain, truncation, style_mixing = map(_recorded, (adain, truncation, style_mixing))
frechet_distance, precision, unbiased_mmd = map(_recorded, (frechet_distance, precision, unbiased_mmd))

__all__ = ["Check", "d_loss", "g_loss", "optimal_discriminator", "d_step_detach", "conditional_input",
           "mismatch_prediction", "transposed_conv_size", "generator_block", "critic_loss", "clip_weights",
           "gradient_penalty", "fade_in", "pixel_norm", "minibatch_stddev",
           "adain", "truncation", "style_mixing", "frechet_distance", "precision", "unbiased_mmd"]
