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
