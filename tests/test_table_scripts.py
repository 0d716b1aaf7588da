"""The table scripts' shared flag parsing (scripts/lib.sh) and their bad-flag errors."""

import subprocess

import pytest

from tests.helpers import ROOT


def bash(script):
    return subprocess.run(["bash", "-c", f"set -euo pipefail; cd {ROOT}; source scripts/lib.sh; {script}"],
                          capture_output=True, text=True, timeout=60)


def test_parse_table_flags_fills_declared_variables_and_arrays():
    proc = bash('dataset=cifar10; seeds=5; ft_epochs=40; subset=(); cfg=(); extra=(); percents=""\n'
                'method_flag() { case $1 in --percents) percents=$2 ;; *) return 1 ;; esac; }\n'
                'parse_table_flags --dataset cifar100 --seeds 2 --ft-epochs 3 --subset 500 --cfg "[1, 2]" '
                '--percents "0.3 0.5" -- --lr 0.05 --no-progress\n'
                'printf "%s|" "$dataset" "$seeds" "$ft_epochs" "${subset[@]}" "${cfg[@]}" "$percents" "${extra[@]}"')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("|")[:-1] == ["cifar100", "2", "3", "--subset", "500", "--cfg", "[1, 2]",
                                           "0.3 0.5", "--lr", "0.05", "--no-progress"]


def test_parse_table_flags_collects_the_flags_of_every_training_step():
    proc = bash('dataset=cifar10; data_dir=data; subset=(); test_subset=(); extra=()\n'
                'parse_table_flags --dataset cifar100 --data-dir /d --test-subset 200 -- --amp\n'
                'printf "%s|" "${common[@]}"')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("|")[:-1] == ["--dataset", "cifar100", "--data-dir", "/d", "--test-subset", "200",
                                           "--amp"]


@pytest.mark.parametrize("flags,message", [
    ("--bogus 1", "unknown option --bogus"),
    ("--test-subset 10", "unknown option --test-subset"),   # this script declared no test_subset
    ("--seeds", "--seeds needs a value"),
])
def test_parse_table_flags_errors(flags, message):
    proc = bash(f"dataset=cifar10; seeds=5; parse_table_flags {flags}; echo reached")
    assert proc.returncode == 2 and "reached" not in proc.stdout
    assert proc.stderr.strip().endswith(message) or message in proc.stderr.strip().splitlines()[0]
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("script", ["l1-norm", "thinet", "regression", "slimming", "soft-filter", "sss",
                                    "weight-level", "lottery-ticket", "imp"])
def test_every_table_script_rejects_an_unknown_flag_before_running_anything(script, tmp_path):
    proc = subprocess.run(["bash", f"scripts/cifar/{script}.sh", "--runs", str(tmp_path / "runs"), "--bogus", "1"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.strip() == (
        f"{script}.sh: unknown option --bogus (the options are listed at the top of scripts/cifar/{script}.sh)")
    assert not (tmp_path / "runs").exists()
