"""Model families, one file each: MLP (GAN 2014, cGAN), DCGAN, PGGAN, and the domain classifier."""

from .dcgan import DCGANDiscriminator28, DCGANGenerator28, DCGANGenerator64
from .lenet import LeNet
from .pggan import ProgressiveDiscriminator, ProgressiveGenerator
from .stylegan import MappingNetwork, StyleGenerator, SynthesisNetwork
from .mlp import ConditionalMLPDiscriminator, ConditionalMLPGenerator, MLPDiscriminator, MLPGenerator

__all__ = ["MLPGenerator", "MLPDiscriminator", "ConditionalMLPGenerator", "ConditionalMLPDiscriminator",
           "DCGANGenerator28", "DCGANDiscriminator28", "DCGANGenerator64", "LeNet",
           "ProgressiveGenerator", "ProgressiveDiscriminator", "StyleGenerator", "MappingNetwork", "SynthesisNetwork"]
