"""scripts/results_summary.py: the index of results/ names each row's best arm and whether scratch training came
within one std of fine-tuning, and adds up the tables' wall times."""

from helpers import run_entry

HEADER = ("| Dataset | Method | Model | Variant | Baseline | Pruned (no FT) | Fine-tuned | Scratch-E | Scratch-B "
          "| Params | FLOPs |\n|---|---|---|---|---|---|---|---|---|---|---|\n")


def write(folder, table, minutes):
    folder.mkdir(parents=True)
    tail = "\ntop-1 (%) = best test accuracy\n\n## Training compute\n\n| x |\n|---|\n"
    (folder / "table.md").write_text(table + tail)
    (folder / "command.txt").write_text(f"bash scripts/cifar/x.sh\nwall time: {minutes} min on 2 CPU cores\n")


def test_the_index_gives_each_rows_best_arm_and_the_papers_question(tmp_path):
    write(tmp_path / "cifar" / "l1-norm", HEADER
          + "| fmnist | l1-norm | vgg16 | A | 80.10 ± 1.18 | 9.87 ± 0.13 | 79.90 ± 1.56 | 79.33 ± 0.60 "
            "| 82.13 ± 1.00 | 0.37M | 12.9M |\n"
          + "| fmnist | l1-norm | vgg16 | B | 80.10 ± 1.18 | 9.87 ± 0.13 | 85.00 ± 0.50 | 80.00 ± 0.20 "
            "| 83.00 ± 1.00 | 0.30M | 10.1M |\n", 9)
    write(tmp_path / "cifar" / "lottery-ticket", "| Dataset | Method | Model | Variant | Winning ticket | Random init "
          "| Sparsity |\n|---|---|---|---|---|---|---|\n| fmnist | lottery-ticket | vgg16 | 50% | 81.00 ± 0.10 "
          "| 81.50 ± 0.20 | 90.0% |\n", 12)
    out = run_entry("scripts/results_summary.py", tmp_path).stdout
    rows = {line.split(" | ")[1]: line for line in out.splitlines() if line.startswith("| vgg16")}
    assert rows["A"].endswith("| Scratch-B | yes |")
    assert rows["B"].endswith("| Fine-tuned | no |")            # 83.00 + 1.00 std falls short of 85.00 - 0.50
    assert rows["50%"].endswith("| Random init | – |")         # no fine-tuned column: the question does not apply
    assert "[cifar/l1-norm](cifar/l1-norm/), 9 min" in out and "Total wall time of the tables: 21 min." in out


def test_a_folder_without_results_is_one_line_of_error(tmp_path):
    proc = run_entry("scripts/results_summary.py", tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("error: no results under") and proc.stdout == ""
