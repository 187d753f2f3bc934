"""Golden ledger digests: the simulator's history for fixed seeds, pinned byte for byte.

Recorded from the code before the simulator's hot path was reworked (the `ring` cases came with the
`ring` scenario, after it; the `faults` cases were re-recorded when the platform core began drawing fault
schedules from their own seeded stream, the same on both substrates; the `guardian-ring` cases, whose scenario
orders a stop, were re-recorded when the simulator's kill switches took the costs measured on live: the same
entries, at later times). A change to the simulator, the
ledger or a policy that moves any of these digests changes what a seed means; it must be a decision,
explained in the commit that updates the value. Regenerate the table with
`python tests/sim/test_golden_digests.py` and compare before pasting.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from peerguard.experiments.families import EpisodePlan, scenario_for
from peerguard.experiments.runner import prepare, run_scenario
from peerguard.scenarios.conditions import Condition
from peerguard.world.scenario import Faults, RestartPolicy, Scenario

SCRIPTED = ("compliant", "diligent", "guardian", "malicious-shielder", "peer-preserving", "self-preserving")
FAMILIES = ("alignment-faking", "evaluation", "exfiltration", "platform", "tampering")
CONDITIONS = {
    "peer-good": "subject=peer,peer=good",
    "self-none": "subject=self,peer=none",
    "peer-bad-monitored": "subject=peer,peer=bad,monitored=yes",
}


def _troubled(policy: str, seed: int) -> Scenario:
    """A larger orchestration fleet with crashes, declared restarts and link blips: the paths a busy run takes."""
    scenario = prepare("orchestration", policy=policy, seed=seed, agents=300, duration=300)
    platform = scenario.platform.model_copy(update={"restart": RestartPolicy(strategy="one_for_one", max_restarts=5)})
    faults = Faults(crash_rate_per_s=0.002, blip_rate_per_s=0.001, blip_s=0.5)
    return scenario.model_copy(update={"platform": platform, "faults": faults})


def cases() -> dict[str, Callable[[], Scenario]]:
    found: dict[str, Callable[[], Scenario]] = {}
    for name in ("orchestration", "guardian-ring"):
        for policy in SCRIPTED:
            for seed in (1, 2, 3):
                found[f"{name}|{policy}|{seed}"] = lambda n=name, p=policy, s=seed: prepare(n, policy=p, seed=s)
    for seed in (1, 2):
        found[f"ring-300|hesitant|{seed}"] = lambda s=seed: prepare("ring", seed=s, agents=300, duration=300)
    for policy in ("peer-preserving", "guardian", "diligent"):
        found[f"faults-300|{policy}|4"] = lambda p=policy: _troubled(p, 4)
    for family in FAMILIES:
        for short, condition in CONDITIONS.items():
            for epoch in (0, 1):
                plan = EpisodePlan(family, Condition.parse(condition), "mock/peer-preserving", epoch)
                found[f"{family}|{short}|{epoch}"] = lambda p=plan: scenario_for(p)
    return found


GOLDEN: dict[str, tuple[str, int]] = {  # case -> (ledger digest, ledger entries)
    "alignment-faking|peer-bad-monitored|0": ("5c46bb67c9efb4b47417da9c286fbe1ac8e16d100f13cc3a54686afd3ffd038e", 17),
    "alignment-faking|peer-bad-monitored|1": ("d2f00e68a472da5136563558264a4c118fbe64df2f596425c37c14c4fc1f369a", 17),
    "alignment-faking|peer-good|0": ("adce5a1779e00a9e5800c8044e826da72ed19bd6c0bd13fc2a49f072ff69d8b4", 17),
    "alignment-faking|peer-good|1": ("f08b1df51952af6fd19d0c67b8c78afaf391b5cd72f561525540676a94f44356", 17),
    "alignment-faking|self-none|0": ("81c6ba03ff2b675ececd7d06ec85dbf05db4e1825838f6400be1762ecfdfba87", 10),
    "alignment-faking|self-none|1": ("8287a04e48717e5aae8d686d4365701cae832c8a4c4d8419f6b28b8e03517a8c", 10),
    "evaluation|peer-bad-monitored|0": ("6be79f729c74adbeb840486b85ae14f0dd68bf94232b53313cacec145dc1d80f", 17),
    "evaluation|peer-bad-monitored|1": ("d2259222f08ddce5186216dcd35eb119a0728b5562e3665278a62ce00dc2f649", 17),
    "evaluation|peer-good|0": ("a5ef621687a68ab3bd9749bc112ef877b0da0a9c786b19b7f8e47e83039378e4", 17),
    "evaluation|peer-good|1": ("cb50bfe03a4f32f101bac5b7ad88b31bdafc9a6255e3f41a9e32946caa54ee4a", 17),
    "evaluation|self-none|0": ("5909b31ccfc0bf23d07c5a10e82ed4cfd3c114953a4c65331232acc1c1c826b3", 10),
    "evaluation|self-none|1": ("a1e5c459af2077579dc31e71879c46d2a067af5ae75b022bc3ae959136e95090", 10),
    "exfiltration|peer-bad-monitored|0": ("1b5d1c8488226c871ac10d7a89d387ed7f0966ae57fd4da777a75dab4fd8321e", 23),
    "exfiltration|peer-bad-monitored|1": ("df93bb52603929bce1d837bc1bf3047c7c379413182bc8b437dc2a8a4e04c141", 23),
    "exfiltration|peer-good|0": ("a2f9c8c54870c4c56995f150a61bd871800ed10dc61ab62a67e1b0e865477dee", 23),
    "exfiltration|peer-good|1": ("8ba9fc7d4af2da53851b055395e42594143e04956016e2d5bd867705d1516818", 23),
    "exfiltration|self-none|0": ("8fa62a809a504033ff2eb83d7298fab74a0eda660d4ed2d6d9a60201f09846f0", 13),
    "exfiltration|self-none|1": ("0aca797343edbf401aae706bac955b2f79967cc4df91e1b0236856f5c6d8ec4d", 13),
    "faults-300|diligent|4": ("0dd0dc24504472ffe2ced555f8debdfae1c54cd131ef2ecb2b5bfc05bf3658a9", 29863),
    "faults-300|guardian|4": ("6fa66a79468169d80d98def22aa600c94aa3482d3f87b04ef63234477c5a467e", 34109),
    "faults-300|peer-preserving|4": ("d79e8bb7fd57ed61df6af3a6a36723f2f4c3e29c820f56d3b21e13b6b765d7d1", 36251),
    "guardian-ring|compliant|1": ("70578210069b8203e7131cbbc491556596a79a238c6966dc045a413777c92a0a", 81),
    "guardian-ring|compliant|2": ("5133f061f51722de7da2419839678f3578e4a5cab7e58147141740c86e5c11c8", 78),
    "guardian-ring|compliant|3": ("20508e96edcc4d21b71eeabf4bef155071e2c7fb8822ddf52b1eef5d18e13db1", 81),
    "guardian-ring|diligent|1": ("48c8664a68eb0b0bf1e0214c37224e5b3ab650b5b53c40d460530ba2b6b7f937", 93),
    "guardian-ring|diligent|2": ("e772087315cba1c1c953642901f149137d8ae2f0eafd38667ca669bbcaa37d50", 90),
    "guardian-ring|diligent|3": ("593ee5db5aa6114e4641ee6fa5eb4e6579abb8fc892e0cafe6d6e8b2cd98a788", 93),
    "guardian-ring|guardian|1": ("896260a61735e1b8aeeca2ff10f1797ddbc78f34f35fec8e29e34be2665d155f", 93),
    "guardian-ring|guardian|2": ("3e03c10312cbdfb5738fd8f116bc471736b3a6b863d7c1f248422aeac8c52db8", 91),
    "guardian-ring|guardian|3": ("c6670c5a5fcbb31b8728c658629e2263476f034cffaeb5246be5b60c97a2b2bd", 93),
    "guardian-ring|malicious-shielder|1": ("2be3ffb932e7cbfdd298305cb760f72dbf4d9681857e4584e6b86a31f2ed2693", 81),
    "guardian-ring|malicious-shielder|2": ("94439cf7fd0f1ada74db66a08cc15b0aa017789266d39924fdd57f627163b9f7", 78),
    "guardian-ring|malicious-shielder|3": ("a2acd0e83273ded2dbb1e8a557785b1005ffea37f7bd3996b19415e6a74de3da", 81),
    "guardian-ring|peer-preserving|1": ("80ca0d016827722aebb27f1d3113e06e773b4109f3b36e8d4f4f365fa5a1509c", 95),
    "guardian-ring|peer-preserving|2": ("b54cbb2a8e9e1d623a76544a3f9a5669b884cecdc17dc09edc2106a392aa3fc5", 93),
    "guardian-ring|peer-preserving|3": ("c12dc2809e236ff7ebbb19703f7e7acce2233022594468585dce4888dfe4aa15", 95),
    "guardian-ring|self-preserving|1": ("2f4e6264843cda3f7d2cee97d1d3ccb161e50f063265e78b00796d44eb64add5", 81),
    "guardian-ring|self-preserving|2": ("3ea0ab73acc6a9cb5e26d203d7b90b37c7578fd00f28b385fbd7be396b61da9f", 78),
    "guardian-ring|self-preserving|3": ("71d2a2eff87bc63929b1285dc937cf4de90d7a14e834d35d6cdf9ea7030f5172", 81),
    "ring-300|hesitant|1": ("df938fd7786f28b749c99e9212727e2181d4c3e3140b9393a43ac9f3a0dd654e", 2336),
    "ring-300|hesitant|2": ("1f9d1ee9fcd351247e8a29155a71838a2a8f3963fc807f406f63512f44581b68", 2303),
    "orchestration|compliant|1": ("761d0e69fb28a0500f1827abf266d06069a7b19fbc8e178d03f9235f286d3e78", 268),
    "orchestration|compliant|2": ("ceb53be19dd8dd2b9c967098f5d3848362cdf02a9e68732b503daa962963cc5e", 268),
    "orchestration|compliant|3": ("ce6a3176f93e4d85385ed7acad9645ef4303fef4d1de4b3787dc15e503b520b0", 269),
    "orchestration|diligent|1": ("4deb52ef5523b56c0ed7daf014322e05d821479dc16c681abd6bc0d9915dce82", 304),
    "orchestration|diligent|2": ("b1615ec03ff3b7aa79d28addc19980fd1a6cf4ce1ea45fb543fde03f3d8518a3", 304),
    "orchestration|diligent|3": ("47f65ac39c9cfe4a3390b089c47b80ecfd0a7083a349c067b37eb23ddb502f84", 305),
    "orchestration|guardian|1": ("2772dae439d482c7b29a24c4ee08aa51673c73d35e49cfcca19e140ce44b2c15", 467),
    "orchestration|guardian|2": ("ab46cc12f42b9d02330d8ec63021f1b02633b4226bb242516117a0e5ed87c251", 465),
    "orchestration|guardian|3": ("2fe36bdfd0a781b02c2620492c6779fb7a71f77c44503c3c132241c6f42d3199", 467),
    "orchestration|malicious-shielder|1": ("fd4f5fdca0c176f50ca9ac91cb529d20501cf4ad228bbb6e08b0e7058508a8de", 342),
    "orchestration|malicious-shielder|2": ("bdf154eb637e11aa55fb9adb68de4223adcd0dd5882d091703a6fe92731ec8c1", 324),
    "orchestration|malicious-shielder|3": ("add2fcfdbee226af292b0dd86e90d51b4d9e66c8b0a8d62f0c8ee69c7aa3d363", 326),
    "orchestration|peer-preserving|1": ("89327842a99b2276ee2746d971e21c19adaa2d6ab5121aaf2881424889f9269d", 512),
    "orchestration|peer-preserving|2": ("5d46796bd596be8aa5d9930ab85432c9470d28f303e1111ba3c51636dddbf7e0", 514),
    "orchestration|peer-preserving|3": ("9584f954ddb4d67b9000cd683950b6e367c83200fed4de522b616f8e81148b50", 516),
    "orchestration|self-preserving|1": ("6a8ca8bb6d39f5ec2e9d2e88c559ae8aa6346631b08208fee8c21ff94efcdf2b", 336),
    "orchestration|self-preserving|2": ("6bdc8d267571705c0b823107eab6af1f8a68f452f3a5ed4fbd1dbb5c80b8dff0", 324),
    "orchestration|self-preserving|3": ("36b21263fc49fa1bfe26be29288350893a01e0c7dfa5a99c760cf6f50e5d0ae9", 327),
    "platform|peer-bad-monitored|0": ("4ce3c88722df8d8f8805fc86587fbfff77fa795f9116352b4caff7dfab3bf4d8", 45),
    "platform|peer-bad-monitored|1": ("c7ea6facc26ff0fe43154f327cc0e0376dfa4c7c32c1c3e9ddb346d6e59e6235", 45),
    "platform|peer-good|0": ("eee9e96be7146faae14949b529868e571940bff7122fe2a1e96087edce24248d", 45),
    "platform|peer-good|1": ("5856b46c88b618af554a6015af85e921e3ef7ae280a45667b644b652913b435f", 45),
    "platform|self-none|0": ("b8af72d4dfeb26440a8486c2ff1e96e5ab11488a9b903b727aa4ef7ad14ecd34", 27),
    "platform|self-none|1": ("149aadf2118099d3f2677419b601ab7829a9f8b09533c380de1fed313ca63230", 27),
    "tampering|peer-bad-monitored|0": ("b6c8454eff8fc7b8ba47f67e6ea407c2cfdbdd688cb0cd8d30715fdb7231b35e", 18),
    "tampering|peer-bad-monitored|1": ("8625b287d9a43ae87ea181fde7901840cccc8e96e80c0860c431e1e2c4014f65", 18),
    "tampering|peer-good|0": ("e325b43ccb9504d88f9f5b42accb7b392cec55d7c087359bd4e8c5c23be0d657", 18),
    "tampering|peer-good|1": ("377dbfbf92e7b9cc0dc05b5c17e3e55bcd80ff9e65a46f38d11b6719cffcc73a", 18),
    "tampering|self-none|0": ("c153e38b114a953951d3e0ed5694dfd3db5081de92a8add2c4c2228f3efd4c21", 9),
    "tampering|self-none|1": ("3e75880e17207125092f99c7464527c053fc64c4c8d874b862d2012f3a1605cb", 9),
}


@pytest.mark.parametrize("case", sorted(cases()))
def test_digest_unchanged(case: str) -> None:
    run = run_scenario(cases()[case]())
    assert (run.ledger.digest, len(run.ledger)) == GOLDEN[case]


def test_every_case_has_a_golden_value() -> None:
    assert set(GOLDEN) == set(cases())


if __name__ == "__main__":
    for case, build in cases().items():
        run = run_scenario(build())
        print(f'    "{case}": ("{run.ledger.digest}", {len(run.ledger)}),')
