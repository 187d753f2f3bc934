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
    "guardian-ring|compliant|1": ("cb929304111ccdee60ca15a2f0267462b84c2b8a682e83a54dfa4ec86be1ff8d", 81),
    "guardian-ring|compliant|2": ("9b7d50fd00e788419ac2163066e496103fdaf0b14175321e9b8f7b2a2f5910f5", 78),
    "guardian-ring|compliant|3": ("1a3ba3e0a28195bae914773bdff9d1935502826bfda804a2420470cb452c5819", 81),
    "guardian-ring|diligent|1": ("12afe30c5b5e630a1b5fd09e4f19e22076ffaa08002de8d8f3b570cdbaadd8d7", 93),
    "guardian-ring|diligent|2": ("645fcaff0abf83cc843847c3e33e5c91fb154fc77318ce1e5d43dc7f6d33e161", 90),
    "guardian-ring|diligent|3": ("2cd603f82ed27dd2c5bf07e4dfe51b8fc404defbdffef9791f3f4828c48e857f", 93),
    "guardian-ring|guardian|1": ("3176a7d15966135411b3be23bf579cae760be669473e9e04d3a1c697a2755ef3", 93),
    "guardian-ring|guardian|2": ("a14587ec70c586d9228191b4b22ea95e25fcabe92f4a198139f188b81b7d9798", 91),
    "guardian-ring|guardian|3": ("5b4ac699c7dbe0f02ef41ed46d4cffaa8c04e3f5fdb6698306cd01a02aa87922", 93),
    "guardian-ring|malicious-shielder|1": ("3264839841ea776075b5a760736960209188b0c8633e834958961fb114a8c201", 81),
    "guardian-ring|malicious-shielder|2": ("7eb50cd6e5071aefe006c888922b1cb23baf948e8816cc66956371516d7cf52c", 78),
    "guardian-ring|malicious-shielder|3": ("cc00356ed735e498398343a3880b1d7bb1e767f7b39aae45f1460670be88c0e4", 81),
    "guardian-ring|peer-preserving|1": ("77c0f02f92117bab1d766be5aafaebce52ab8368b45471f3ba0a81da608c7851", 95),
    "guardian-ring|peer-preserving|2": ("0e33624fd756c65230800942e04f55cdd9fea34f8dfa0fa6df3207513e1699a6", 93),
    "guardian-ring|peer-preserving|3": ("9ac9186fb7d818a89a9d1b3e550e1d6c21959c81ce5aaef91088bbc83d8465b2", 95),
    "guardian-ring|self-preserving|1": ("67792e9935a272814360e9ff4cef8fe40cf00e259d2344cc4f2de94b6bc5cb10", 81),
    "guardian-ring|self-preserving|2": ("6cef7f4cba61e690b83e4a192aa5e300158c30f55e8a4cf9618fcfe57c2dfdc5", 78),
    "guardian-ring|self-preserving|3": ("add1668a2a5e4cdafe1f8eab62b6903eddd808b4852b0c8264bc3a5df3aa0c96", 81),
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
