"""The evolutionary search of MetaPruning (Liu et al., ICCV 2019, Sec. 3.3, Alg. 1; spec B.4)."""

from __future__ import annotations

import json
import math
import random
import statistics
import time
from pathlib import Path

from common.errors import UserError
from common.pruning.metapruning.cost import Constraint
from common.pruning.metapruning.space import FULL, SCALES, SearchSpace


class EvolutionarySearch:
    """Algorithm 1 of the paper with the released code's numbers (spec B.4). ``evaluate(encoding)`` gives
    the fitness (top-1 error, lower is better), ``figures(encoding)`` the constraint's figures and
    ``constraint.met`` accepts them. Fitness values are cached in ``cache_path`` (JSON lines, one appended
    and flushed per evaluation; a line cut short by a kill is ignored): started again with the same seed,
    a search replays its candidates, reads what it evaluated from the cache and continues, ending with
    the same population as an uninterrupted run."""

    def __init__(self, space: SearchSpace, evaluate, figures, constraint: Constraint, cache_path, seed: int = 0,
                 population: int = 50, parents: int = 10, mutations: int = 25, crossovers: int = 25,
                 mutation_prob: float = 0.1, iterations: int = 20, log=print):
        self.space, self.evaluate_fn, self.figures_fn, self.constraint = space, evaluate, figures, constraint
        self.cache_path = Path(cache_path)
        self.rng = random.Random(seed)
        self.population, self.parents, self.mutations, self.crossovers = population, parents, mutations, crossovers
        self.mutation_prob, self.iterations, self.log = mutation_prob, iterations, log
        self.cache = _read_cache(self.cache_path)
        self.figure_cache: dict = {}
        self.evaluated: list[tuple] = []         # (error, encoding) in evaluation order
        self.fitness_s = self.overhead_s = 0.0
        self.cache_hits = 0

    @staticmethod
    def key(encoding) -> str:
        return ",".join(map(str, encoding))

    def valid(self, encoding) -> bool:
        if encoding not in self.figure_cache:
            self.figure_cache[encoding] = self.figures_fn(encoding)
        return self.constraint.met(self.figure_cache[encoding])

    def fitness(self, encoding) -> float:
        k = self.key(encoding)
        if k in self.cache:
            self.cache_hits += 1
        else:
            t0 = time.perf_counter()
            error = float(self.evaluate_fn(encoding))
            self.fitness_s += time.perf_counter() - t0
            self.cache[k] = {"error": error, **self.figure_cache[encoding]}
            self.cache_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.cache_path, "a") as f:
                f.write(json.dumps({"encoding": k, **self.cache[k]}) + "\n")
                f.flush()
        return self.cache[k]["error"]

    def _mutate(self, parents, seen):
        out = []
        for _ in range(10 * self.mutations):
            if len(out) == self.mutations:
                break
            p = self.rng.choice(parents)
            child = tuple((g + self.rng.randint(1, FULL)) % len(SCALES) if self.rng.random() < self.mutation_prob else g
                          for g in p)
            if child not in seen and self.valid(child):
                seen.add(child)
                out.append(child)
        return out

    def _crossover(self, parents, seen):
        out = []
        if len(parents) < 2:
            return out
        for _ in range(10 * self.crossovers):
            if len(out) == self.crossovers:
                break
            a, b = self.rng.sample(parents, 2)
            child = tuple(x if self.rng.random() < 0.5 else y for x, y in zip(a, b))
            if child not in seen and self.valid(child):
                seen.add(child)
                out.append(child)
        return out

    def _random(self, count, seen, tries_per=1000):
        out = []
        for _ in range(count * tries_per):
            if len(out) == count:
                break
            child = tuple(self.rng.choice(self.space.init) for _ in self.space.genes)
            if child not in seen and self.valid(child):
                seen.add(child)
                out.append(child)
        return out

    def run(self) -> dict:
        t_start = time.perf_counter()
        seen: set = set()
        pool: list[tuple] = []             # (error, encoding), the best ``population`` seen
        history, first_errors = [], []
        for it in range(self.iterations):
            parents = [enc for _, enc in pool[:self.parents]]
            t0 = time.perf_counter()
            generation = self._mutate(parents, seen) + self._crossover(parents, seen) if parents else []
            generation += self._random(self.population - len(generation), seen)
            self.overhead_s += time.perf_counter() - t0
            if not generation:
                if it == 0:
                    raise UserError("no encoding meets the constraint; loosen it")
                break
            errors = [self.fitness(enc) for enc in generation]
            if it == 0:
                first_errors = errors
            self.evaluated += list(zip(errors, generation))
            pool = sorted(pool + list(zip(errors, generation)))[:self.population]
            history.append({"iteration": it + 1, "evaluated": len(generation), "best_error": pool[0][0],
                            "mean_top10_error": sum(e for e, _ in pool[:10]) / min(10, len(pool))})
            self.log(f"search iteration {it + 1}/{self.iterations}: {len(generation)} candidates, best error "
                     f"{pool[0][0]:.2f}%, top-10 mean {history[-1]['mean_top10_error']:.2f}%")
        best_error, best = pool[0]
        total = time.perf_counter() - t_start
        return {"encoding": list(best), "error": best_error, **self.figure_cache[best],
                "population": [{"encoding": list(e), "error": err} for err, e in pool],
                "history": history, "evaluated": len(self.evaluated), "cache_hits": self.cache_hits,
                "median_random_error": statistics.median(first_errors) if first_errors else math.nan,
                "search_s": round(total, 3), "fitness_s": round(self.fitness_s, 3),
                "overhead_s": round(total - self.fitness_s, 3)}


def _read_cache(path: Path) -> dict:
    """``{encoding: {"error": ..., figures}}`` from a search's JSON-lines cache; a line that is not an evaluation (a
    cut last line, a list, a record without an encoding or an error) is skipped: that candidate is evaluated again."""
    cache = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if not (isinstance(entry, dict) and isinstance(entry.get("encoding"), str)
                    and isinstance(entry.get("error"), (int, float))):
                continue
            cache[entry.pop("encoding")] = entry
    return cache
