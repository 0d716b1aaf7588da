#!/usr/bin/env python
"""Time every model of a table on this device (``common.latency``): each distinct network of the result.json
files under FOLDER -- baselines and pruned models -- at batch 1 and a saturating batch, eager and torch.compile,
float32 and bfloat16 autocast, median and inter-quartile range; the speed-up over the baseline beside the FLOPs
reduction. Masked models run dense (no invented speed-ups). Writes FOLDER/latency.json and latency.md::

    python scripts/latency.py runs/fashion-mnist/l1-norm [--batches 1 64] [--no-compile] [--no-bf16] [--device cuda]

A FOLDER with no result.json but a table's ``table.csv`` (a published table, e.g. ``results/cifar/l1-norm``) is
timed from the CSV: the same networks on this device, without the runs that made them.
"""
import json

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from common.distributed import resolve_device
from common.errors import UserError
from common.latency import measure, write
from common.report import load_results, rows_from_csv
from common.settings import ArgumentParser, Settings, flag, main_guard, positive_float, positive_int


@dataclass(frozen=True)
class Latency(Settings):
    method: Optional[str] = flag(None, "only this method's runs")
    batches: list = flag([1, 64], "batch sizes (default 1, and 64 as a saturating batch on a CPU; 256 suits a GPU)",
                         type=positive_int, nargs="+")
    device: Optional[str] = flag(None, "cuda, cuda:N or cpu (default: cuda when available)")
    compile: bool = flag(True, "torch.compile as well as eager (--no-compile: eager only)")
    bf16: bool = flag(True, "bfloat16 autocast as well as float32 (--no-bf16: float32 only)")
    min_time: float = flag(0.3, "seconds of timed runs per setting (default %(default)s)", type=positive_float)


def results_in(folder: Path, method=None) -> list:
    """The runs to time: the result.json files under ``folder``, else the rows of its ``table.csv``. A CSV written
    before its cfg column gives the widths of the unpruned network only, which is also what a masked run runs."""
    results = load_results(folder, method)
    if results or not (folder / "table.csv").is_file():
        return results
    try:
        rows = [r for r in rows_from_csv(folder / "table.csv") if method is None or r["method"] == method]
    except (KeyError, ValueError, TypeError) as e:
        raise UserError(f"{folder / 'table.csv'} is not a table CSV this project writes ({type(e).__name__}: {e})")
    for r in rows:
        if "cfg" not in r and (r["arm"] == "baseline" or (r.get("sparsity") or 0) > 0):
            cfg = r["_lineage"].get("cfg")
            r["cfg"] = cfg
        if isinstance(r.get("cfg"), str):          # a width config given as a flag: its JSON text
            r["cfg"] = json.loads(r["cfg"])
    unknown = sum(1 for r in rows if r.get("cfg") is None)
    if unknown:
        print(f"{unknown} rows of {folder / 'table.csv'} carry no width config (pruned models of a CSV written "
              "before its cfg column): not timed")
    return [r for r in rows if r.get("cfg") is not None]


def main(argv=None):
    parser = ArgumentParser(description=__doc__)
    parser.add_argument("folder", help="folder holding the table's result.json files (e.g. runs/<dataset>/<method>)")
    Latency.add_flags(parser)

    def run(args):
        s, folder = Latency.from_args(args), Path(args.folder)
        if not folder.is_dir():
            raise UserError(f"{folder} is not a folder")
        results = results_in(folder, s.method)
        if not results:
            raise UserError(f"no result.json or table.csv under {folder}"
                            + (f" for method {s.method}" if s.method else ""))
        device = resolve_device(s.device)
        print(f"timing the networks of {len(results)} runs under {folder} on {device}")
        records = measure(results, s.batches, device, s.compile, s.bf16, s.min_time)
        for path in write(records, folder, device):
            print(f"wrote {path}")
        print((folder / "latency.md").read_text())

    main_guard(run, parser, argv)


if __name__ == "__main__":
    main()
