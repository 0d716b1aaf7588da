#!/usr/bin/env python
"""The index of ``results/`` (what ``scripts/results.sh`` made): every method's accuracy table in one page, each
row with the arm that reached the highest mean top-1 and whether training from scratch (Scratch-E or Scratch-B)
came within one standard deviation of fine-tuning -- the paper's question --, and each table's wall time::

    python scripts/results_summary.py results > results/README.md
"""

import re
import sys
from pathlib import Path

from common.errors import UserError
from common.settings import ArgumentParser, main_guard

ACCURACY = re.compile(r"^\s*(-?\d+(?:\.\d+)?)(?:\s*±\s*(\d+(?:\.\d+)?))?")
NOT_ARMS = {"Dataset", "Method", "Model", "Variant", "Settings", "Baseline", "Pruned (no FT)", "Params", "FLOPs",
            "Sparsity"}     # nor a method's own training run ("Sparsity-trained"): the arms trained after pruning


def first_table(markdown: str):
    """The header and rows of the first markdown table in ``markdown``."""
    lines = [line for line in markdown.splitlines()]
    start = next((i for i, line in enumerate(lines) if line.startswith("|")), None)
    if start is None:
        return [], []
    block = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        block.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    header, rows = block[0], [row for row in block[2:] if len(row) == len(block[0])]
    return header, rows


def accuracy(cell: str):
    """``(mean, std)`` of a cell such as ``79.90 ± 1.56``; None for an empty cell."""
    match = ACCURACY.match(cell or "")
    return (float(match.group(1)), float(match.group(2) or 0.0)) if match else None


def verdict(row: dict) -> tuple:
    """The best arm by mean top-1 (of the arms trained after pruning; a percentage such as a sparsity is not one),
    and whether the better scratch arm is within one std of, or above, fine-tuning (None where the table has no
    fine-tuned or no scratch column)."""
    arms = {name: accuracy(cell) for name, cell in row.items()
            if name not in NOT_ARMS and not name.endswith("-trained") and not cell.endswith("%") and accuracy(cell)}
    if not arms:
        return "–", None
    best = max(arms, key=lambda name: arms[name][0])
    finetuned = arms.get("Fine-tuned")
    scratch = [arms[name] for name in ("Scratch-E", "Scratch-B") if name in arms]
    if finetuned is None or not scratch:
        return best, None
    top = max(scratch, key=lambda a: a[0])
    return best, top[0] >= finetuned[0] - max(finetuned[1], top[1])


def summary(root: Path) -> str:
    folders = sorted(p.parent for p in root.glob("*/*/table.md"))
    if not folders:
        raise UserError(f"no results under {root}: expected {root}/<tree>/<method>/table.md (bash scripts/results.sh)")
    out = ["# Results", "",
           "Made by `bash scripts/results.sh` on the machine each folder's `command.txt` names; each folder holds the "
           "table (`table.md`, `table.csv`), its plots, the training compute and the CPU latency of every model. "
           "Top-1 (%) is the best test accuracy, mean ± std over 3 seeds. *Scratch ≈ FT*: the better of Scratch-E "
           "and Scratch-B is above, or within one std of, fine-tuning (the paper's finding for structured pruning). "
           "The scale (images, widths, epochs) is in `scripts/results.sh` and each folder's `command.txt`: these "
           "are small runs on Fashion-MNIST, not CIFAR or ImageNet numbers.", ""]
    minutes = 0
    for folder in folders:
        header, rows = first_table((folder / "table.md").read_text())
        command = (folder / "command.txt").read_text() if (folder / "command.txt").is_file() else ""
        wall = re.search(r"wall time: (\d+) min", command)
        minutes += int(wall.group(1)) if wall else 0
        out += [f"## {folder.parent.name} / {folder.name}", "",
                f"[{folder.relative_to(root)}]({folder.relative_to(root)}/)"
                + (f", {wall.group(1)} min" if wall else ""), ""]
        if not rows:
            out += ["(no table)", ""]
            continue
        shown = [h for h in header if h not in ("Dataset", "Method")]
        out.append("| " + " | ".join(shown + ["Best arm", "Scratch ≈ FT"]) + " |")
        out.append("|" + "---|" * (len(shown) + 2))
        for cells in rows:
            row = dict(zip(header, cells))
            best, holds = verdict(row)
            answer = {True: "yes", False: "no", None: "–"}[holds]
            out.append("| " + " | ".join([row[h] for h in shown] + [best, answer]) + " |")
        out.append("")
    out.append(f"Total wall time of the tables: {minutes} min.")
    return "\n".join(out) + "\n"


def run(args):
    root = Path(args.folder)
    if not root.is_dir():
        raise UserError(f"{root} is not a folder")
    sys.stdout.write(summary(root))


def main(argv=None):
    parser = ArgumentParser(description="The index of results/: every method's table, its best arm, its wall time.")
    parser.add_argument("folder", help="the results folder (results/)")
    return main_guard(run, parser, argv)


if __name__ == "__main__":
    sys.exit(main())
