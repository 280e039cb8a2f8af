"""Every generated block of the README and the notes beside the results equals what visualize.py makes from
the committed JSON, every committed results file is made by a command they show, and every link resolves."""

import functools
import glob
import json
import os
import re
import shlex

import ghost_logit_distill
import omitted_class_distill
import runs
import subclass_distill
import visualize
from conftest import ROOT

EXPERIMENTS = {f"{module.__name__}.py": module.EXPERIMENT
               for module in (subclass_distill, omitted_class_distill, ghost_logit_distill)}


README_MAX_LINES = 350


def read(path):
    with open(path) as f:
        return f.read()


def readme_text():
    return read(os.path.join(ROOT, "README.md"))


def docs():
    """{path: text} of README.md and every notes file beside the results."""
    return {path: read(path) for path in visualize.doc_files()}


def docs_text():
    return "\n".join(docs().values())


def test_the_notes_files_are_all_there():
    assert visualize.doc_files() == [visualize.README] + visualize.NOTES


def test_every_generated_block_matches_the_committed_json_in_the_one_file_it_lives_in():
    texts = docs()
    blocks = visualize.readme_blocks()
    assert {"bench", "performance", "omitted-main"} <= set(blocks)
    for name, expected in blocks.items():
        homes = [path for path, text in texts.items() if visualize.readme_block(text, name) is not None]
        assert len(homes) == 1, (name, homes)
        assert visualize.readme_block(texts[homes[0]], name) == expected, \
            f"block {name!r} in {os.path.relpath(homes[0], ROOT)} is stale: run python visualize.py --readme"


def test_no_block_in_the_docs_is_left_without_its_json():
    names = re.findall(r"<!-- ([\w-]+):start -->", docs_text())
    assert sorted(names) == sorted(visualize.readme_blocks())


def test_the_readme_stays_short():
    assert len(readme_text().splitlines()) <= README_MAX_LINES


def test_every_relative_link_and_image_resolves_to_a_committed_file():
    import subprocess
    tracked = set(subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                                 check=True).stdout.splitlines())
    checked = 0
    for path, text in docs().items():
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue  # a web address or an anchor in the same file
            resolved = os.path.normpath(os.path.join(os.path.dirname(path), target.split("#")[0]))
            relative = os.path.relpath(resolved, ROOT)
            assert relative in tracked or os.path.isdir(resolved), \
                f"{os.path.relpath(path, ROOT)} links to {target}, which is not a committed file"
            checked += 1
    assert checked >= 10


def test_a_validation_number_stands_only_beside_the_test_run_of_the_same_recipe():
    config = {"seed": 0, "eval_on": "test", "baseline": True, "temperature": 20.0, "hard_weight": 0.0}
    twin = {"config": {**config, "seed": 100, "eval_on": "validation", "baseline": False}}
    other = {"config": {**config, "seed": 100, "eval_on": "validation", "hard_weight": 0.1}}
    assert visualize.same_recipe([other, twin], config) is twin
    assert visualize.same_recipe([other], config) is None


def readme_commands():
    """(experiment, argv) of every experiment command in the README's bash blocks, expanded as the shell would:
    line continuations, the block's variables, $(seq A B)."""
    for block in re.findall(r"```bash\n(.*?)```", docs_text(), re.S):
        variables = {}
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\$\(seq (\d+) (\d+)\)", lambda m: " ".join(map(str, range(int(m[1]), int(m[2]) + 1))),
                          line)
            words = shlex.split(re.sub(r"\$(\w+)", lambda m: variables.get(m[1], m[0]), line), comments=True)
            if len(words) == 1 and re.fullmatch(r"\w+=.*", words[0]):
                name, value = words[0].split("=", 1)
                variables[name] = value
            for i, word in enumerate(words[:-1]):
                if word == "python" and words[i + 1] in EXPERIMENTS:
                    argv = words[i + 2:]
                    yield EXPERIMENTS[words[i + 1]], argv[:argv.index("&&")] if "&&" in argv else argv


def readme_results():
    """{committed results file: (experiment, parsed args)} for every README command whose file is committed."""
    made = {}
    for experiment, argv in readme_commands():
        args = experiment.parse_args(argv)
        path = os.path.normpath(os.path.join(ROOT, args.out) if args.out is not None else
                                os.path.join(runs.RESULTS_ROOT, experiment.name, experiment.out_name(args)))
        made[path] = (experiment, args)
    return made


def test_every_committed_results_file_is_made_by_a_readme_command():
    committed = {os.path.normpath(p) for experiment in EXPERIMENTS.values()
                 for p in glob.glob(os.path.join(runs.RESULTS_ROOT, experiment.name, "*.json"))}
    unexplained = sorted(os.path.relpath(p, ROOT) for p in committed - set(readme_results()))
    assert not unexplained, f"no command in the README or the notes writes {unexplained}"


def test_every_readme_command_records_the_settings_it_says():
    """The file a README command names holds that command's seeds, sweep values and settings (the swept one
    aside; files older than a flag do not record it)."""
    for path, (experiment, args) in readme_results().items():
        if not os.path.exists(path):
            continue
        with open(path) as f:
            result = json.load(f)
        where = os.path.relpath(path, ROOT)
        assert result["seeds"] == (args.seeds or [args.seed]), where
        if args.sweep:
            assert [g["sweep_value"] for g in result["groups"]] == args.sweep[1], where
        said = json.loads(json.dumps(runs.run_config(args, experiment.parser)))
        differ = {key: (value, said[key]) for key, value in result["config"].items()
                  if key in said and value != said[key] and not (args.sweep and key == args.sweep[0])}
        assert not differ, f"{where}: recorded vs README command {differ}"


@functools.lru_cache(maxsize=None)
def committed_results():
    """{path from the repo root: results} of every committed experiment results file, read once for the tests
    below."""
    found = {}
    for experiment in EXPERIMENTS.values():
        for path in glob.glob(os.path.join(runs.RESULTS_ROOT, experiment.name, "*.json")):
            with open(path) as f:
                found[os.path.relpath(path, ROOT)] = json.load(f)
    return found


def test_a_results_file_is_named_validation_exactly_when_it_was_evaluated_on_validation():
    """The README says test_* keys hold the score on config.eval_on's split, and validation_* files are the
    validation ones: every committed file's groups must agree with its name."""
    for where, result in committed_results().items():
        splits = {result["config"]["eval_on"]} | {group["config"]["eval_on"] for group in result["groups"]}
        named = "validation" if os.path.basename(where).startswith("validation_") else "test"
        assert splits == {named}, where


def test_the_files_the_readme_says_ran_on_two_threads_are_the_only_ones():
    """The README tells a user which BLAS thread count reproduces a committed run bit for bit."""
    two = set()
    for where, result in committed_results().items():
        threads = {run["blas_threads"] for group in result["groups"] for run in group["runs"]}
        assert threads in ({1}, {2}), where
        if threads == {2}:
            two.add(os.path.basename(where))
    said = re.search(r"but\s+these, made with two: (.*?)\.\n", readme_text(), re.S)
    assert said and set(re.findall(r"`([^`]+)`", said.group(1))) == two


def test_the_odds_of_the_cross_init_cap_come_from_the_every_seed_file():
    """The ghost-logit target bullet counts the untrained networks of validation_seeds.json above 12 %."""
    result = committed_results()[os.path.join("viz", "ghost_logit", "validation_seeds.json")]
    accuracies = [run["metrics"][name]["test_acc"] for run in result["groups"][0]["runs"]
                  for name in ("untrained", "cross_init_untrained")]
    n, below = len(accuracies), sum(acc <= 0.12 for acc in accuracies)
    text = " ".join(docs_text().split())
    assert (f"of the {n} untrained networks of those twenty seeds (shared and cross-init), {n - below} score "
            f"above 12 %") in text
    assert f"({below}/{n})^5 ≈ {(below / n) ** 5:.2f}" in text
