"""Every generated README block equals what visualize.py makes from the committed JSON."""

import os
import re

import visualize
from conftest import ROOT


def readme_text():
    with open(os.path.join(ROOT, "README.md")) as f:
        return f.read()


def test_every_generated_block_matches_the_committed_json():
    text = readme_text()
    blocks = visualize.readme_blocks()
    assert "bench" in blocks
    for name, expected in blocks.items():
        assert visualize.readme_block(text, name) == expected, \
            f"README block {name!r} is stale: run python visualize.py --readme"


def test_no_block_in_the_readme_is_left_without_its_json():
    names = set(re.findall(r"<!-- ([\w-]+):start -->", readme_text()))
    assert names == set(visualize.readme_blocks())


def test_a_validation_number_stands_only_beside_the_test_run_of_the_same_recipe():
    config = {"seed": 0, "eval_on": "test", "baseline": True, "temperature": 20.0, "hard_weight": 0.0}
    twin = {"config": {**config, "seed": 100, "eval_on": "validation", "baseline": False}}
    other = {"config": {**config, "seed": 100, "eval_on": "validation", "hard_weight": 0.1}}
    assert visualize.same_recipe([other, twin], config) is twin
    assert visualize.same_recipe([other], config) is None
