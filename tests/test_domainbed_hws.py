"""SGD-HWS's sampling as it runs inside DomainBed's loop, driven the way DomainBed's
train.py drives it (loaders built first, then the algorithm, then ``zip(*loaders)``)."""
from __future__ import annotations

import types

import torch
from torch.utils.data import TensorDataset

from algorithm_fixtures import BASE_HPARAMS
from rgd_bench.hparams import default_hparams
from rgd_bench.integrations import domainbed_hws


def domainbed_like_run(sizes=(5, 7), batch_size=3, **hparams):
    fake_module = types.SimpleNamespace(InfiniteDataLoader=None)
    domainbed_hws.install(fake_module)
    generator = torch.Generator().manual_seed(0)
    envs = [TensorDataset(torch.randn(n, 3, generator=generator), torch.randint(0, 2, (n,), generator=generator))
            for n in sizes]
    loaders = [fake_module.InfiniteDataLoader(dataset=env, weights=None, batch_size=batch_size, num_workers=0)
               for env in envs]
    cls = domainbed_hws.DomainBedSGD_HWS
    algorithm = cls((3,), 2, len(envs), {**default_hparams(cls.hparam_space(None)), **BASE_HPARAMS,
                                          "batch_size": batch_size, **hparams})
    return envs, loaders, algorithm


def test_loaders_yield_the_examples_the_sampler_chose_and_update_learns_their_ids():
    torch.manual_seed(7)
    envs, loaders, algorithm = domainbed_like_run(hws_beta=50.0)
    # One example far harder than the rest: with beta 50 every draw takes it.
    algorithm.loss_history.fill_(0.0)
    algorithm.loss_history[6] = 5.0  # env 1, local id 1
    algorithm._rebuild_sampler(center=None)
    minibatches = next(zip(*loaders))
    assert len(minibatches[0][0]) == 0  # env 0: nothing chosen this step
    x, y = minibatches[1]
    assert len(x) == 6 and torch.equal(x, envs[1].tensors[0][[1] * 6])
    algorithm.update([(x, y) for x, y in minibatches])
    assert float(algorithm.loss_history[6]) != 5.0  # learned the loss of the very example trained on
    assert float(algorithm.loss_history.sum() - algorithm.loss_history[6]) == 0.0


def test_draws_follow_the_algorithms_sampler_and_domainbeds_seed():
    def ids_over(steps):
        torch.manual_seed(3)  # what DomainBed's train.py does with --seed
        _, loaders, algorithm = domainbed_like_run()
        drawn = []
        for _ in range(steps):
            minibatches = next(zip(*loaders))
            drawn.append(torch.cat(domainbed_hws.SESSION.current_global).tolist())
            algorithm.update(list(minibatches))
        return drawn, algorithm

    first, algorithm = ids_over(4)
    again, _ = ids_over(4)
    assert first == again and all(len(ids) == 6 for ids in first)
    # after a step the examples trained on have a low loss history and the unseen ones
    # still the high initial one: the next draw takes only unseen examples
    assert not set(first[1]) & set(first[0])
    assert int((algorithm.loss_history < algorithm.hparams["hws_init_loss"]).sum()) == len(
        set(sum(first, [])))
