"""The fixed set of runs whose records prove a refactoring changed nothing: every built-in
algorithm under DomainBed's protocol (in memory and item by item from disk) and under
WILDS's (``synthetic_waterbirds``), with each batch path (uniform, class-balanced,
uniform over groups, algorithm-driven sampling).

``python tests/record_digests.py`` writes ``tests/fixtures/record_digests.json``: each run's
digest (sha256 of its canonical records, without the machine's ``step_time``/``mem_gb``
and without locations) and its records, with the machine that computed them.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(HERE, "fixtures", "record_digests.json")
ALGORITHMS = ("ALSO", "ERM", "GroupDRO", "RGD", "SGD_HWS")
LOCATIONS = ("output_dir", "data_dir")
MACHINE_KEYS = ("step_time", "mem_gb")
DOMAINBED = ["--dataset", "SpuriousTabular", "--steps", "25", "--checkpoint_freq", "10"]
WILDS = ["--dataset", "synthetic_waterbirds", "--steps", "40", "--checkpoint_freq", "16"]
# On-disk images (item by item, seeded augmentation) in DomainBed's layout, made by image_tree.
IMAGES = ["--dataset", "PACS", "--steps", "4", "--checkpoint_freq", "2", "--test_envs", "3",
          "--hparams", '{"batch_size": 2, "resnet18": true, "pretrained": false, "resnet_dropout": 0.0}', "--num_workers", "0"]


def runs() -> dict[str, list[str]]:
    """name -> train argv (without --output_dir / --data_dir)."""
    named = {}
    for algorithm in ALGORITHMS:
        named[f"{algorithm}-SpuriousTabular"] = [*DOMAINBED, "--algorithm", algorithm]
        named[f"{algorithm}-SpuriousTabular-hparams1"] = [*DOMAINBED, "--algorithm", algorithm,
                                                          "--hparams_seed", "1", "--trial_seed", "1"]
        named[f"{algorithm}-synthetic_waterbirds"] = [*WILDS, "--algorithm", algorithm]
    named["ERM-SpuriousTabular-class_balanced"] = [*DOMAINBED, "--hparams", '{"class_balanced": true}']
    named["ERM-synthetic_waterbirds-uniform"] = [*WILDS, "--uniform_over_groups", "true"]
    named["ERM-synthetic_waterbirds-groupby_y"] = [*WILDS, "--groupby_fields", "y"]
    for algorithm in ("ERM", "SGD_HWS"):
        named[f"{algorithm}-PACS-images"] = [*IMAGES, "--algorithm", algorithm]
    return named


def canonical(records: list[dict]) -> list[dict]:
    kept = []
    for record in records:
        record = {k: v for k, v in record.items() if k not in MACHINE_KEYS}
        record["args"] = {k: v for k, v in record["args"].items() if k not in LOCATIONS}
        kept.append(record)
    return kept


def digest(records: list[dict]) -> str:
    return hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()


RUN = """
import json, sys
from rgd_bench.train import train
for argv in json.loads(sys.argv[1]):
    train(argv)
"""


def compute(workdir: str, kernels: str) -> dict[str, list[dict]]:
    """Every run's canonical records, computed in one fresh interpreter with torch's CPU
    kernels forced to ``kernels``."""
    sys.path.insert(0, HERE)
    from image_tree import PACS_ENVS, make_image_tree

    data_dir = os.path.join(workdir, "data")
    if not os.path.exists(data_dir):
        make_image_tree(os.path.join(data_dir, "PACS"), PACS_ENVS)
    named = runs()
    argvs = [[*argv, "--output_dir", os.path.join(workdir, name), "--data_dir", data_dir, "--skip_model_save",
              "--no_progress"]
             for name, argv in named.items()]
    env = {**os.environ, "ATEN_CPU_CAPABILITY": kernels.lower()}
    result = subprocess.run([sys.executable, "-c", RUN, json.dumps(argvs)], env=env, cwd=workdir,
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-3000:])
    out = {}
    for name in named:
        with open(os.path.join(workdir, name, "results.jsonl"), encoding="utf-8") as f:
            out[name] = canonical([json.loads(line) for line in f])
    return out


def machine(kernels: str) -> dict[str, str]:
    env = {**os.environ, "ATEN_CPU_CAPABILITY": kernels.lower()}
    return json.loads(subprocess.run([sys.executable, "-m", "rgd_bench._machine"], env=env, capture_output=True,
                                     text=True, check=True).stdout)


if __name__ == "__main__":
    import tempfile

    kernels = "AVX2"
    with tempfile.TemporaryDirectory() as workdir:
        computed = compute(workdir, kernels)
    fixture = {"machine": machine(kernels),
               "runs": {name: {"digest": digest(records), "records": records} for name, records in computed.items()}}
    with open(FIXTURE, "w", encoding="utf-8") as f:
        json.dump(fixture, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{len(computed)} runs -> {FIXTURE}")
