"""rgd_bench's algorithms with DomainBed's own networks, for runs inside a DomainBed checkout.

rgd_bench's ERM, and RGD, SGD_HWS and ALSO built on it, get their featurizer and
classifier from their ``build_network``.  ``domainbed_flavoured(cls)`` is ``cls`` building
DomainBed's ``networks.Featurizer`` and ``networks.Classifier`` instead, driven by
DomainBed's hparams (``resnet18``, ``resnet50_augmix``, ``resnet_dropout``, ``freeze_bn``,
``nonlinear_classifier``, ...): inside DomainBed, RGD and DomainBed's ERM train the same
backbone on every DomainBed dataset, with the same pretrained weights.
"""
from __future__ import annotations

import functools
from typing import Any, Sequence


def domainbed_network(input_shape: Sequence[int], num_classes: int, hparams: dict[str, Any]):
    """Featurizer + classifier exactly as DomainBed's ERM builds them."""
    from domainbed import networks  # the checkout on PYTHONPATH, needed only once a network is built

    featurizer = networks.Featurizer(tuple(input_shape), hparams)
    classifier = networks.Classifier(featurizer.n_outputs, num_classes, hparams["nonlinear_classifier"])
    return featurizer, classifier


@functools.cache  # one class per algorithm: registering twice gives the same class
def domainbed_flavoured(cls: type) -> type:
    """``cls`` (an rgd_bench algorithm built on ERM) with DomainBed's networks."""
    return type(cls.__name__, (cls,), {
        "build_network": staticmethod(domainbed_network),
        "__module__": __name__,
        "__doc__": f"rgd_bench's {cls.__name__} with DomainBed's networks.\n\n{cls.__doc__ or ''}",
    })
