"""Every generated block of the README and the notes beside the results equals what visualize.py makes from
the committed JSON, every committed results file is made by a command they show, and every link resolves."""

import functools
import glob
import json
import os
import re
import shlex

import numpy as np
import pytest

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


def tracked_files():
    import subprocess
    return set(subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.splitlines())


def anchors(text):
    """The #anchors of a Markdown file's headings, as GitHub makes them (lower case, punctuation dropped,
    spaces to hyphens), outside code blocks."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
            for heading in re.findall(r"^#+ (.*)$", text, re.M)}


def test_anchors_are_made_as_github_makes_them():
    assert anchors("# Ghost-logit subliminal learning\n```bash\n# a comment\n```\n## What the results say, "
                   "in 2×2 (mean ± std)") == {"ghost-logit-subliminal-learning", "what-the-results-say-in-22-mean--std"}


def prose_sentences(text):
    """The sentences of a Markdown file's prose: code blocks, tables, headings, block markers and images left out,
    link targets dropped."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = " ".join(line for line in text.splitlines() if not line.startswith(("|", "#", "<!--", "![")))
    text = re.sub(r"\]\([^)]*\)", "]", text)
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z*`(\[-])", text) if s.strip()]


def test_no_readme_sentence_runs_over_40_words():
    assert len(prose_sentences("One two. Three (four) five? `Six` seven.")) == 3
    long = [s for s in prose_sentences(readme_text()) if len(s.split()) > 40]
    assert not long, long


def test_the_first_60_lines_give_every_result_beside_the_papers():
    """A newcomer who reads only the first screen can state each result and the paper's number beside it: the
    intro block (generated from the JSON, checked above) ends within the first 60 lines and names all three."""
    lines = readme_text().splitlines()
    end = lines.index("<!-- intro:end -->")
    first = "\n".join(lines[:end])
    assert end < 60 and "<!-- intro:start -->" in first
    for name in ("Subclass distillation", "Omitted-class dark knowledge", "Ghost-logit subliminal learning"):
        assert f"- **{name}**" in first
    assert f"with {visualize.ERRORS_LINE} errors" in first and f"(the paper: {visualize.PAPER_ERRORS['student']})" in first


@pytest.mark.parametrize("section", ["subclass", "omitted", "ghost"])
def test_each_readme_section_opens_with_its_result_then_its_table(section):
    """The first thing under each experiment's heading is its result in prose, then its table with the default
    recipe's row first and alone in bold, at most 8 columns, then the line that names its files."""
    text = readme_text()
    body = text[text.index(f"<!-- {section}-headline:start -->"):]
    heading_to_headline = text[:text.index(f"<!-- {section}-headline:start -->")].rsplit("\n## ", 1)[1]
    assert heading_to_headline.count("\n") == 2  # the heading, a blank line, the block
    assert body.index(f"<!-- {section}-headline:end -->") < body.index(f"<!-- {section}-main:start -->")
    table = visualize.readme_block(text, f"{section}-main").splitlines()
    rows = [line for line in table if line.startswith("| ")][1:]
    assert "**" in rows[0] and not any("**" in row for row in rows[1 + 2 * (section == "omitted"):])
    assert len(table[0].split(" | ")) <= 8 and table[-1].startswith("From `viz/")


def test_the_fast_recipes_numbers_in_readme_prose_are_the_jsons():
    """The README's paragraph on --preset fast: how many more errors than the default, and how many runs pass."""
    groups = {name: committed_results()[os.path.join("viz", "omitted_class", name)]["groups"]
              for name in ("seeds.json", "sweep_omit.json", "fast_seeds.json", "fast_sweep_omit.json")}
    default = groups["seeds.json"] + groups["sweep_omit.json"]
    fast = groups["fast_seeds.json"] + groups["fast_sweep_omit.json"]
    more = [f["summary"]["corrected_errors"]["mean"] - d["summary"]["corrected_errors"]["mean"]
            for d, f in zip(default, fast)]
    runs_after = [r["metrics"]["student_corrected"] for g in fast for r in g["runs"]]
    passed = visualize.within_lines(runs_after)
    text = " ".join(readme_text().split())
    assert f"It makes {round(min(more))} to {round(max(more))} more test errors than the default" in text
    assert f"paper's lines on {passed} of {len(runs_after)} runs" in text


def test_the_per_layer_maps_numbers_in_readme_prose_are_the_jsons():
    """The README's paragraphs under the per-layer map quote accuracies and a CKA from the share_map_m*.json files."""
    found = visualize.share_map(visualize.GHOST)
    if not found:
        pytest.skip("no per-layer map committed")
    first, last = min(found), max(found)
    acc = {(c, m): visualize.pct(found[m][c][0].mean()) for m in found for c in found[m]}
    text = " ".join(readme_text().split())
    no_class = min(np.mean(found[m]["fc1+fc2+ghost"][2]) for m in found)
    assert f"becomes the teacher's (linear CKA {no_class:.2f})" in text
    assert f"At m = {last}, an independent fc1 costs nothing ({acc['fc2+class+ghost', last]} %)" in text
    assert f"the heads alone reach {acc['heads', last]} %" in text
    assert (f"reaches {acc['fc1+fc2+class', first]} % at m = {first} but {acc['fc1+fc2+class', last]} % at "
            f"m = {last}") in text
    assert f"both heads alone give {acc['heads', 3]} % at m = 3 and {acc['heads', 10]} % at their default m = 10" in text


def test_the_initial_weights_numbers_in_readme_prose_are_the_jsons():
    """The README's paragraph on Learning Through Noise quotes the heads-only students of PyTorch's initial weights."""
    groups = committed_results()[os.path.join("viz", "ghost_logit", "uniform-init_share-heads_sweep_n_ghost.json")]
    acc = {g["sweep_value"]: visualize.pct(g["summary"]["same_init"]["mean"]) for g in groups["groups"]}
    text = " ".join(readme_text().split())
    assert f"they give {acc[10]} % at m = 10 but {acc[250]} % at m = 250" in text


def test_every_relative_link_and_image_resolves_to_a_committed_file_and_heading():
    tracked = tracked_files()
    checked = anchored = 0
    for path, text in docs().items():
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # a web address
            file, _, anchor = target.partition("#")
            resolved = os.path.normpath(os.path.join(os.path.dirname(path), file)) if file else path
            relative = os.path.relpath(resolved, ROOT)
            assert relative in tracked or os.path.isdir(resolved), \
                f"{os.path.relpath(path, ROOT)} links to {target}, which is not a committed file"
            if anchor:
                assert anchor in anchors(read(resolved)), \
                    f"{os.path.relpath(path, ROOT)} links to {target}: {relative} has no such heading"
                anchored += 1
            checked += 1
    assert checked >= 10 and anchored >= 3


def test_no_committed_figure_or_results_file_is_orphaned():
    """Every PNG and GIF in viz/ is shown by the README or a notes file; every results JSON is named in a notes
    file (its path from its experiment's folder, e.g. validation/validation_seeds.json, or its own name where it
    is at the top)."""
    notes = {os.path.basename(os.path.dirname(path)): read(path) for path in visualize.NOTES}
    for relative in sorted(tracked_files()):
        parts = relative.split("/")
        if parts[0] != "viz" or not relative.endswith((".png", ".gif", ".json")):
            continue
        experiment, inside = parts[1], "/".join(parts[2:])
        if relative.endswith(".json"):  # named whole: not as the tail of another name or of another folder's path
            named = rf"(viz/{experiment}/|(?<![\w/.-])){re.escape(inside)}(?![\w.-])"
            assert re.search(named, notes[experiment]), f"{relative} is named in no notes file"
        else:
            linked = {os.path.relpath(os.path.normpath(os.path.join(os.path.dirname(path), target)), ROOT)
                      for path, text in docs().items() for target in re.findall(r"\]\(([^)\s#]+)\)", text)}
            assert relative in linked, f"{relative} is shown by neither the README nor a notes file"


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
                                runs.default_out(experiment, args))
        made[path] = (experiment, args)
    return made


def test_every_committed_results_file_is_made_by_a_readme_command():
    committed = {os.path.normpath(os.path.join(ROOT, p)) for p in committed_results()}
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
        for path in glob.glob(os.path.join(runs.RESULTS_ROOT, experiment.name, "**", "*.json"), recursive=True):
            with open(path) as f:
                found[os.path.relpath(path, ROOT)] = json.load(f)
    return found


def test_a_results_file_is_in_validation_exactly_when_it_was_evaluated_on_validation():
    """The README says test_* keys hold the score on config.eval_on's split, and the files in validation/ (each
    named validation_*) are the validation ones: every committed file's groups must agree with where it is."""
    for where, result in committed_results().items():
        splits = {result["config"]["eval_on"]} | {group["config"]["eval_on"] for group in result["groups"]}
        folder = os.path.basename(os.path.dirname(where))
        assert os.path.basename(where).startswith("validation_") == (folder == runs.VALIDATION_FOLDER), where
        assert splits == {"validation" if folder == runs.VALIDATION_FOLDER else "test"}, where


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
    result = committed_results()[os.path.join("viz", "ghost_logit", "validation", "validation_seeds.json")]
    accuracies = [run["metrics"][name]["test_acc"] for run in result["groups"][0]["runs"]
                  for name in ("untrained", "cross_init_untrained")]
    n, below = len(accuracies), sum(acc <= 0.12 for acc in accuracies)
    text = " ".join(docs_text().split())
    assert (f"of the {n} untrained networks of those twenty seeds (shared and cross-init), {n - below} score "
            f"above 12 %") in text
    assert f"({below}/{n})^5 ≈ {(below / n) ** 5:.2f}" in text
