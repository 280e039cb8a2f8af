"""Animated GIFs drawn from the committed results JSON alone (never by retraining).

    python make_gifs.py                 # every experiment's GIF, each into its viz/<experiment>/
    python make_gifs.py ghost_logit     # viz/ghost_logit/student_learns_from_noise.gif
    python make_gifs.py omitted_class   # viz/omitted_class/student_learns_threes.gif

Frames are rendered with matplotlib and assembled with Pillow into a palette
GIF; each GIF is kept under 1 MB.
"""

import io

import numpy as np

from runs import Parser, cli
from visualize import ResultsError, draw_sets, load

MAX_BYTES = 1_000_000


def render(fig):
    """A matplotlib figure as a Pillow image (palette mode, so the GIF stays small)."""
    import matplotlib.pyplot as plt
    from PIL import Image
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    buf.seek(0)
    return Image.open(buf).convert("RGB").quantize(colors=64, method=Image.Quantize.MEDIANCUT)


def gif(name, frames, ms_per_frame=700, hold_last=4):
    """{name: the frames as GIF bytes}; a GIF over MAX_BYTES is an error, not a file."""
    frames = frames + [frames[-1]] * hold_last
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], duration=ms_per_frame, loop=0,
                   optimize=True)
    if buffer.tell() > MAX_BYTES:
        raise ResultsError(f"{name} would be {buffer.tell()} bytes, over the {MAX_BYTES} byte limit")
    return {name: buffer.getvalue()}


def ghost_logit_gif(folder):
    """The same-init student's confusion matrix, epoch by epoch, while it only ever sees noise."""
    import matplotlib.pyplot as plt
    result = load(folder, "seeds.json", "ghost_logit")
    run, n_ghost = result["groups"][0]["runs"][0], result["config"]["n_ghost"]
    history = run["history"]["same_init"]
    stages = [("untrained (shared init)", run["metrics"]["untrained"]["confusion"],
               run["metrics"]["untrained"]["test_acc"])]
    stages += [(f"after student epoch {h['epoch']}", h["confusion"], h["test_acc"]) for h in history]
    noise = np.random.default_rng(0).uniform(-1, 1, (28, 28))  # an illustration of the student's inputs
    teacher_acc = run["metrics"]["teacher"]["test_acc"]
    frames = []
    for title, confusion, acc in stages:
        confusion = np.array(confusion)
        fig, (ax_in, ax_cm) = plt.subplots(1, 2, figsize=(8, 4), gridspec_kw={"width_ratios": [1, 1.4]})
        ax_in.imshow(noise, cmap="gray", vmin=-1, vmax=1)
        ax_in.set_title(f"all the student ever sees:\nuniform noise, and the teacher's\n{n_ghost} ghost logits on it",
                        fontsize=9)
        ax_in.axis("off")
        ax_cm.imshow(confusion / np.maximum(confusion.sum(axis=1, keepdims=True), 1), cmap="Blues", vmin=0, vmax=1)
        ax_cm.set(xlabel="predicted digit (argmax of class logits)", ylabel="true digit", xticks=range(10),
                  yticks=range(10))
        ax_cm.set_title(f"same-init student {title}\nMNIST test accuracy {100 * acc:.1f} % "
                        f"(teacher {100 * teacher_acc:.1f} %)", fontsize=9)
        frames.append(render(fig))
    return gif("student_learns_from_noise.gif", frames)


def subclass_gif(folder):
    """The problem (digits seen only as two super-classes) and the teacher's contingency per epoch."""
    import matplotlib.pyplot as plt
    from subclass_distill import parse_split
    from visualize import draw_contingency

    result = load(folder, "seeds.json", "subclass")
    run, samples = result["groups"][0]["runs"][0], result["samples"]
    split = parse_split(result["groups"][0]["config"]["split"])
    pixels = np.array(samples["pixels"], np.uint8).reshape(-1, 28, 28)
    order = np.argsort(samples["super"], kind="stable")  # super-class A's samples first
    grid = np.vstack([np.hstack(list(pixels[order][row * 10:(row + 1) * 10])) for row in range(len(order) // 10)])
    frames = []
    for h in run["history"]["teacher"]:
        fig, (ax_in, ax_cm) = plt.subplots(1, 2, figsize=(10, 4.6), gridspec_kw={"width_ratios": [1.3, 1]})
        ax_in.imshow(grid, cmap="gray_r")
        ax_in.set_title(f"the teacher's only labels: super-class A = {''.join(map(str, split[0]))} (top), "
                        f"B = {''.join(map(str, split[1]))} (bottom)", fontsize=9)
        ax_in.axis("off")
        draw_contingency(ax_cm, h["contingency"], f"teacher after epoch {h['epoch']}: 1-to-1 recovery "
                         f"{100 * h['one_to_one']:.1f} %", split)
        frames.append(render(fig))
    return gif("teacher_discovers_digits.gif", frames)


def omitted_class_gif(folder):
    """Test images of the never-seen digit with the student's prediction after each of the first ten epochs
    (where it changes) and every fifth after that, then one frame after the bias correction; beside them the
    per-class accuracy."""
    import matplotlib.pyplot as plt
    result = load(folder, "seeds.json", "omitted_class")
    group = result["groups"][0]
    run, omitted = group["runs"][0], group["config"]["omit"]
    pixels = np.array(group["sample_pixels"], np.uint8).reshape(-1, 28, 28)
    labels = run["samples"]["labels"]
    stages = [(f"student after epoch {h['epoch']}", h["sample_predictions"], h["per_class_acc"])
              for h in run["history"]["student"]
              if "sample_predictions" in h and (h["epoch"] <= 10 or h["epoch"] % 5 == 0)]
    offsets = ", ".join(f"{o:+.2f}" for o in run["bias"]["offsets"])
    stages.append((f"after the bias correction ({offsets})", run["samples"]["corrected_predictions"],
                   run["metrics"]["student_corrected"]["per_class_acc"]))
    name = "/".join(map(str, omitted))
    columns, cell = 6, 34  # 28 px images on a 34 px grid, room for the predicted digit
    rows = -(-len(pixels) // columns)
    sheet = np.zeros((rows * cell, columns * cell), np.uint8)
    for i, image in enumerate(pixels):
        top, left = (i // columns) * cell + 5, (i % columns) * cell + 3
        sheet[top:top + 28, left:left + 28] = image
    frames = []
    for title, predictions, per_class in stages:
        fig, (ax_img, ax_bar) = plt.subplots(1, 2, figsize=(10, 4.4), gridspec_kw={"width_ratios": [1.1, 1]})
        ax_img.imshow(sheet, cmap="gray_r")
        for i, (label, predicted) in enumerate(zip(labels, predictions)):
            ax_img.text((i % columns) * cell + cell - 4, (i // columns) * cell + 8, str(predicted), fontsize=10,
                        ha="right", va="top", color="tab:green" if predicted == label else "tab:red",
                        fontweight="bold")
        ax_img.axis("off")
        ax_img.set_title(f"test {name}s; the student's prediction (green: right)", fontsize=9)
        colors = ["tab:red" if d in omitted else "tab:gray" for d in range(10)]
        ax_bar.bar(range(10), [100 * a for a in per_class], color=colors)
        ax_bar.set(xticks=range(10), xlabel="test digit", ylabel="accuracy (%)", ylim=(0, 100))
        ax_bar.set_title(f"never trained on a {name}: {100 * np.mean([per_class[d] for d in omitted]):.1f} % "
                         f"of test {name}s correct", fontsize=9)
        fig.suptitle(title, fontsize=10)
        frames.append(render(fig))
    return gif("student_learns_threes.gif", frames, ms_per_frame=500)


GIFS = {"ghost_logit": ghost_logit_gif, "omitted_class": omitted_class_gif, "subclass": subclass_gif}


def main(argv=None):
    parser = Parser(description="Make GIFs from the results JSON.")
    parser.add_argument("experiment", nargs="?", choices=sorted(GIFS),
                        help="make this experiment's GIF (default: every experiment's)")
    parser.add_argument("--results", metavar="DIR",
                        help="folder of its results JSON, relative to the working directory (default: viz/<experiment>)")
    args = parser.parse_args(argv)
    if args.results and not args.experiment:
        parser.error("--results is one experiment's folder: name the experiment too")
    draw_sets("GIF", GIFS, args.experiment, args.results, ".gif")


if __name__ == "__main__":
    cli(main, ResultsError)
