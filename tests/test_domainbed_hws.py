"""SGD-HWS's sampling as it runs inside DomainBed's loop, driven the way DomainBed's
train.py drives it (loaders built first, then the algorithm, then ``zip(*loaders)``), and
the same class outside such a run, called as DomainBed's tests or a user's loop call it.
Without DomainBed installed: the class gets rgd_bench's networks here (DomainBed's are
tested in test_domainbed_models.py)."""
from __future__ import annotations

import types

import pytest
import torch
from torch.utils.data import TensorDataset

from algorithm_fixtures import BASE_HPARAMS
from rgd_bench.algorithms.base import build_network
from rgd_bench.hparams import default_hparams
from rgd_bench.integrations import into_domainbed_hws


class WithOurNetworks(into_domainbed_hws.DomainBedSGD_HWS):
    build_network = staticmethod(build_network)


def make_algorithm(num_domains=2, **hparams):
    return WithOurNetworks((3,), 2, num_domains, {**default_hparams(WithOurNetworks.hparam_space(None)),
                                                  **BASE_HPARAMS, **hparams})


def domainbed_like_run(sizes=(5, 7), batch_size=3, **hparams):
    fake_module = types.SimpleNamespace(InfiniteDataLoader=None)
    into_domainbed_hws.install(fake_module)
    generator = torch.Generator().manual_seed(0)
    envs = [TensorDataset(torch.randn(n, 3, generator=generator), torch.randint(0, 2, (n,), generator=generator))
            for n in sizes]
    loaders = [fake_module.InfiniteDataLoader(dataset=env, weights=None, batch_size=batch_size, num_workers=0)
               for env in envs]
    return envs, loaders, make_algorithm(len(envs), batch_size=batch_size, **hparams)


@pytest.fixture(autouse=True)
def session_restored(monkeypatch):
    """Each test's session ends with it: a session left installed would hand its ids to the
    next SGD_HWS built in this process (test_domainbed_models' ones)."""
    monkeypatch.setattr(into_domainbed_hws, "SESSION", into_domainbed_hws.SESSION)


@pytest.fixture
def no_session(monkeypatch):
    monkeypatch.setattr(into_domainbed_hws, "SESSION", None)


def test_loaders_yield_the_examples_the_sampler_chose_and_update_learns_their_ids():
    torch.manual_seed(7)
    envs, loaders, algorithm = domainbed_like_run(hws_beta=50.0, hws_warm_start=False)
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
            drawn.append(torch.cat(into_domainbed_hws.SESSION.current_global).tolist())
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


def test_outside_a_session_it_builds_predicts_and_refuses_plain_minibatches_on_one_line(no_session):
    algorithm = make_algorithm()
    x, y = torch.randn(4, 3), torch.tensor([0, 1, 0, 1])
    assert algorithm.predict(x).shape == (4, 2)
    assert set(algorithm.state_dict()) >= {"loss_history", "sampler_center"}
    # plain (x, y) as DomainBed calls update; then ids, but no examples bound yet
    for minibatches in ([(x, y)], [(x, y, torch.arange(4))]):
        with pytest.raises(RuntimeError) as error:
            algorithm.update(minibatches)
        message = str(error.value)
        assert "\n" not in message
        assert message.startswith("SGD_HWS chooses its own training examples from its loss history")
        assert "`python -m rgd_bench.integrations.into_domainbed train --algorithm SGD_HWS ...`" in message
        assert "bind_training_examples(env_sizes)" in message
        assert "sample_examples(step, count, generator)" in message and "(x, y, example_ids)" in message


def test_outside_a_session_an_own_loop_with_example_ids_trains(no_session):
    torch.manual_seed(0)
    envs = [(torch.randn(n, 3), torch.randint(0, 2, (n,))) for n in (5, 7)]
    algorithm = make_algorithm()
    algorithm.bind_training_examples([5, 7])
    with pytest.raises(RuntimeError, match="chooses its own training examples"):
        algorithm.update([(x[:2], y[:2]) for x, y in envs])  # still no ids: refused even when bound
    ids = algorithm.sample_examples(0, 6, torch.Generator().manual_seed(1))
    minibatches = []
    for start, (x, y) in zip((0, 5), envs):
        mine = ids[(ids >= start) & (ids < start + len(y))]
        minibatches.append((x[mine - start], y[mine - start], mine))
    values = algorithm.update([batch for batch in minibatches if len(batch[2])])
    assert set(values) == {"loss", "objective"}
    trained = algorithm.loss_history < algorithm.hparams["hws_init_loss"]
    assert set(torch.nonzero(trained).flatten().tolist()) == set(ids.tolist())
