"""The pipeline-placement methods: CP-SAT (hinted with the best baseline, so never worse than it)
and each baseline on its own. Every placement returned is checked by the simulator."""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, replace

from cpsched.cpmodels.pipeline import build
from cpsched.instances.errors import InputError
from cpsched.instances.pipeline.problem import GB, KIB, TICKS_PER_MS, PipelineProblem, Placement
from cpsched.instances.pipeline.schedule import PipelineEvaluation, device_paths, evaluate, schedule_graph
from cpsched.solvers.cpsat import ProgressCallback, Tracker, run_cpsat
from cpsched.solvers.pipeline.baselines import BASELINES, SWEEPS
from cpsched.solvers.result import Result
from cpsched.solvers.units import ms, progress_in_ms, trace_in_ms

# The master is small and re-solved a few times: symmetry detection and presolve probing cost more
# than they save there (symmetry off: 5.1 s -> 1.7 s on the first master of llama2-70b at p = 16,
# m = 16, a scratch measurement; probing off: `python -m benchmarks.pipeline --master-ablation`,
# the p = 16 cases up to 1.8x faster; see docs/notes).
MASTER_PARAMETERS = {"symmetry_level": 0, "cp_model_probing_level": 0}
SHARD_TIMINGS = [(extra, lead) for extra in range(0, 9) for lead in range(0, 9)]



def baseline_placements(problem: PipelineProblem, deadline: float | None = None, paths: list | None = None,
                        cut: set | None = None) -> dict[str, tuple[Placement | None, PipelineEvaluation | None]]:
    """Every baseline's placement and its simulated evaluation (None where it has no split), the
    sweeps cut at `deadline` (their names go to `cut`); the critical paths of each go to `paths`. The
    evaluations keep no timeline (a million operations each on long pipelines)."""
    cut = set() if cut is None else cut
    found = {}
    for name in sorted(BASELINES, key=lambda name: name in SWEEPS):  # the sweeps last, as long as time allows
        placement = BASELINES[name](problem, deadline)
        if name in SWEEPS and deadline is not None and time.monotonic() >= deadline:
            cut.add(name)
        evaluation = None if placement is None else evaluate(problem, placement)
        if evaluation is not None and paths is not None:
            paths.extend(device_paths(problem, evaluation))
        found[name] = (placement, None if evaluation is None else replace(evaluation, timeline=None))
    return {name: found[name] for name in BASELINES}


def best_baseline(baselines: dict) -> tuple[str, Placement, PipelineEvaluation] | None:
    feasible = [(e.iteration, name, p, e) for name, (p, e) in baselines.items() if e is not None and e.feasible]
    if not feasible:
        return None
    _, name, placement, evaluation = min(feasible, key=lambda row: (row[0], row[1]))
    return name, placement, evaluation


def spread_shards(problem: PipelineProblem, placement: Placement, extra: int, lead: int) -> Placement:
    """`placement` with each head layer's shards spread evenly over the devices."""
    p = problem.stages
    shards = [[layer.shards // p + (1 if d < layer.shards % p else 0) for d in range(p)] for layer in problem.head]
    return Placement(list(placement.boundaries), list(placement.recompute), shards, extra, lead)


def shard_timing(problem: PipelineProblem, references: list[Placement], deadline: float) -> Placement | None:
    """The fastest placement that fits among `references` with their shards spread evenly, under
    every vocabulary-pass timing (see instances.pipeline_schedule) tried before `deadline`: where the
    search with spread shards starts."""
    best, best_time = None, None
    for extra, lead in SHARD_TIMINGS:
        if time.monotonic() >= deadline:
            break
        try:
            schedule_graph(problem, extra, lead)
        except InputError:  # the barriers of this timing wait on passes its order puts later
            continue
        for reference in references:
            candidate = spread_shards(problem, reference, extra, lead)
            result = evaluate(problem, candidate)
            if result.feasible and (best_time is None or result.iteration < best_time):
                best, best_time = candidate, result.iteration
    return best


def infeasibility_reason(problem: PipelineProblem) -> str:
    """Why no placement fits, in words a user can act on."""
    t = problem.tables
    cap = max(t.capacity_kib)
    for i, layer in enumerate(problem.chain):
        alone = t.weight_kib[i] + min(t.activation_kib[i], t.recompute_activation_kib[i])
        if alone > cap:
            fix = "allow shards" if layer.recompute else "allow shards or recompute"
            return (f"layer {layer.name} alone needs {alone * KIB / GB:.1f} GB, the cap is "
                    f"{cap * KIB / GB:g} GB: {fix}")
    weights = sum(t.weight_kib) + sum(math.ceil(x.params * problem.bytes_per_param / KIB) for x in problem.head)
    if weights > sum(t.capacity_kib):
        return (f"the weights and optimizer state alone need {weights * KIB / GB:.1f} GB, the devices hold "
                f"{sum(t.capacity_kib) * KIB / GB:g} GB: use more stages, tensor parallelism or a distributed "
                "optimizer (fewer bytes per parameter)")
    return ("no split of the layers fits the memory caps with the activations of the microbatches in flight: "
            "allow recompute, use fewer microbatches in flight or more stages")


def _stage_rows(problem: PipelineProblem, placement: Placement, result: PipelineEvaluation) -> list[dict]:
    rows = []
    for s in range(problem.virtual_count):
        layers = placement.stage_layers(problem, s)
        names = [problem.layers[i].name for i in layers]
        rows.append({
            "stage": s, "device": s % problem.stages,
            "layers": (f"{names[0]}..{names[-1]} ({len(names)})" if len(names) > 1 else names[0]) if names
            else "(shards only)",
            "first_layer": layers.start, "layer_count": len(layers),
            "recomputed": sum(placement.recompute[i] for i in layers),
            "time_ms": (result.forward[s] + result.backward[s]) / TICKS_PER_MS,
        })
    for row in rows:
        d = row["device"]
        row["vocab_ms"] = result.vocab[d] / TICKS_PER_MS
        row["shards"] = sum(r[d] for r in placement.shards)
        row["memory_gb"] = result.peak_kib[d] * KIB / GB
        row["percent_of_cap"] = 100 * result.peak_kib[d] / problem.tables.capacity_kib[d]
    return rows


def pipeline_result(problem: PipelineProblem, placement: Placement | None, method: str, status: str,
                    started: float, baselines: dict, tracker: Tracker | None = None,
                    bound: float | None = None, interrupted: bool = False, cut: set = frozenset()) -> Result:
    """A Result for `placement`, checked by the simulator, with the baselines beside it."""
    metrics: dict = {"instance": problem.name, "size": problem.size, "interrupted": interrupted,
                     "baselines": {name: (None if e is None else {"iteration_ms": e.iteration_ms,
                                                                  "fits": e.feasible, "cut": name in cut})
                                   for name, (_, e) in baselines.items()}}
    objective = None
    if placement is not None:
        result = evaluate(problem, placement)
        if not result.feasible:
            metrics["violations"] = result.violations
            status = "infeasible" if status == "feasible" else status
        objective = result.iteration_ms
        metrics.update(iteration_ms=objective, bubble=result.bubble, stages=_stage_rows(problem, placement, result),
                       peak_memory_gb=max(result.peak_kib) * KIB / GB)
        uniform = baselines.get("megatron-uniform", (None, None))[1]
        if uniform is not None:
            metrics["speedup_vs_uniform"] = uniform.iteration / result.iteration
        best = best_baseline(baselines)
        if best is not None:
            metrics["best_baseline"] = best[0]
            metrics["speedup_vs_best_baseline"] = best[2].iteration / result.iteration
    if bound is not None:
        metrics["bound_ms"] = bound
        if objective:
            metrics["gap_to_bound"] = (objective - bound) / objective
    trace = trace_in_ms(tracker)
    return Result(status, objective, bound, placement, method, time.monotonic() - started, trace, metrics)


def solve_baseline(problem: PipelineProblem, name: str, *, time_limit: float = 60.0, **_options) -> Result:
    started = time.monotonic()
    cut: set[str] = set()
    baselines = baseline_placements(problem, started + time_limit, cut=cut)
    placement, evaluation = baselines[name]
    status = "feasible" if evaluation is not None and evaluation.feasible else "infeasible"
    return pipeline_result(problem, placement, name, status, started, baselines, cut=cut)


def neighbour_placements(problem: PipelineProblem, placement: Placement) -> list[Placement]:
    """Boundaries moved by one or two layers, and one layer more or less recomputed per stage: their
    critical paths run through each stage as a heavier or lighter bottleneck, the cuts the search
    would otherwise find one master solve at a time."""
    found = []
    bounds = [*placement.boundaries, problem.head_start]
    last_holds = any(row[(problem.virtual_count - 1) % problem.stages] for row in placement.shards)
    for s in range(1, problem.virtual_count):
        # the last stage may give up its last layer when its device holds shards
        top = bounds[s + 1] + (1 if s == problem.virtual_count - 1 and last_holds else 0)
        for step in (-2, -1, 1, 2):
            moved = bounds[s] + step
            if bounds[s - 1] < moved < top:
                found.append(replace(placement, boundaries=[*bounds[:s], moved, *bounds[s + 1:-1]]))
    for s in range(problem.virtual_count):
        layers = [i for i in placement.stage_layers(problem, s) if problem.layers[i].recompute is not None]
        off = [i for i in layers if not placement.recompute[i]]
        on = [i for i in layers if placement.recompute[i]]
        for flip in ([off[0]] if off else []) + ([on[-1]] if on else []):
            recompute = list(placement.recompute)
            recompute[flip] = not recompute[flip]
            found.append(replace(placement, recompute=recompute))
    return found


@dataclass
class _Search:
    """The best placement the path-cut search found, and what it proved."""

    placement: Placement | None
    iteration: int | None
    bound: int | None
    status: str
    interrupted: bool = False


def path_cut_search(problem: PipelineProblem, hint: Placement | None, deadline: float, tracker: Tracker,
                    workers: int, seed: int, known: list[Counter] = (),
                    master_parameters: dict | None = None, shards_on_last: bool = False) -> _Search:
    """Minimise the iteration time exactly, by cuts: CP-SAT solves the placement problem with the
    iteration time bounded below by paths through the schedule (the master); the simulator runs the
    master's placement; if it takes longer than the master thought, its critical path joins the
    master and CP-SAT solves again. The master's optimum is a lower bound throughout; it is proved
    optimal once the simulated time of a placement meets it. With `shards_on_last` every shard stays
    on the last device (the plans without vocabulary parallelism, proved among those only)."""
    extra, lead = (hint.extra_warmup, hint.vocab_lead) if hint is not None else (0, 0)
    built = build(problem, hint=hint, extra_warmup=extra, vocab_lead=lead, timeline=False)
    if shards_on_last:
        built.keep_shards_on(problem.stages - 1)
    best = _Search(None, None, None, "unknown")
    if hint is not None:
        result = evaluate(problem, hint)
        best.placement, best.iteration = hint, result.iteration
        tracker.report(objective=result.iteration)
        for path in device_paths(problem, result):
            built.add_path(path)
    for path in known:
        built.add_path(path)
    for probe in [] if hint is None else neighbour_placements(problem, hint):
        if time.monotonic() >= deadline:
            break
        for path in device_paths(problem, evaluate(problem, probe)):
            built.add_path(path)
    added: set[frozenset] = set()
    scratch = Tracker(time.monotonic())  # the master's own objective is a bound, not an iteration time
    bound = 0
    while True:
        if best.placement is not None:
            built.set_hint(problem, best.placement)
        outcome = run_cpsat(built.model, deadline=deadline, tracker=scratch, workers=workers, seed=seed,
                            parameters=MASTER_PARAMETERS if master_parameters is None else master_parameters)
        best.interrupted = outcome.interrupted
        if outcome.status == "infeasible":
            best.status = "infeasible" if best.placement is None else best.status
            return best
        if outcome.bound is not None and outcome.bound > bound:
            bound = int(outcome.bound)
            tracker.report(bound=bound)
        if outcome.values is None:
            break
        placement = built.decode(problem, outcome.values)
        result = evaluate(problem, placement)
        if result.feasible and (best.iteration is None or result.iteration < best.iteration):
            best.placement, best.iteration = placement, result.iteration
            tracker.report(objective=result.iteration)
        if best.iteration is not None and bound >= best.iteration:
            best.status, best.bound = "optimal", best.iteration
            return best
        if outcome.status != "optimal" or outcome.interrupted or time.monotonic() >= deadline:
            break
        # the cuts: the paths of the master's placement and of its neighbours (new ones only)
        paths = device_paths(problem, result)
        for q in neighbour_placements(problem, placement):
            if time.monotonic() >= deadline:
                break
            r = evaluate(problem, q)
            if r.feasible and r.iteration < best.iteration:
                best.placement, best.iteration = q, r.iteration
                tracker.report(objective=r.iteration)
            paths += device_paths(problem, r)
        for path in paths:
            key = frozenset(path.items())
            if key not in added:
                added.add(key)
                built.add_path(path)
    best.status = "feasible" if best.placement is not None else "unknown"
    best.bound = bound or None
    return best


def timing_free_bound(problem: PipelineProblem, deadline: float, workers: int, seed: int) -> int | None:
    """A lower bound on the iteration time under every vocabulary-pass timing: the master without
    paths of any one order (each device's work after the first microbatch reaches it, the last
    stage's round trip), with the memory of the timing that holds the fewest microbatches."""
    built = build(problem, timeline=False)
    outcome = run_cpsat(built.model, deadline=deadline, tracker=Tracker(time.monotonic()), workers=workers,
                        seed=seed, parameters=MASTER_PARAMETERS)
    return None if outcome.bound is None else int(outcome.bound)


def solve_cpsat(problem: PipelineProblem, *, time_limit: float = 60.0, workers: int = 2, seed: int = 0,
                progress: ProgressCallback | None = None, master_parameters: dict | None = None,
                **_options) -> Result:
    """The exact planner (path_cut_search), started from the best baseline, so never worse than it.
    With sharded layers it first solves the plans that keep every shard on the last device (the
    plans without vocabulary parallelism, so shards never lose), then searches from there, and under
    the vocabulary-pass timing that suits spread shards, and keeps the fastest plan; such a plan is
    `optimal` only against a bound that holds under every timing. `master_parameters` replaces the
    master's CP-SAT parameters (for ablations)."""
    started = time.monotonic()
    deadline = started + time_limit
    tracker = Tracker(started, progress_in_ms(progress))
    known: list[Counter] = []  # the baselines' critical paths, all of the plain timing
    cut: set[str] = set()
    baselines = baseline_placements(problem, started + time_limit / 4, known, cut)
    best = best_baseline(baselines)
    plans: list[tuple[Placement | None, bool]] = [(None if best is None else best[1], False)]  # (hint, on last)
    free_bound = None
    if problem.head:
        free_bound = timing_free_bound(problem, started + time_limit / 10, workers, seed)
        if free_bound is not None:
            tracker.report(bound=free_bound)
        plans.insert(0, (plans[0][0], True))
        budget = started + time_limit / 4  # at most a quarter of the time goes to choosing the timing
        spread = shard_timing(problem, [p for p, e in baselines.values() if p is not None], budget)
        if spread is not None and (spread.extra_warmup, spread.vocab_lead) != (0, 0):
            plans.append((spread, False))
    searches = []
    for number, (hint, on_last) in enumerate(plans):
        if number == 1 and problem.head and searches[0].placement is not None:
            hint = searches[0].placement  # the general search starts from the best plan without spread shards
        share = (deadline - time.monotonic()) / (len(plans) - number)
        same_timing = known if hint is None or (hint.extra_warmup, hint.vocab_lead) == (0, 0) else []
        search = path_cut_search(problem, hint, time.monotonic() + share, tracker, workers, seed, same_timing,
                                 master_parameters, shards_on_last=on_last)
        searches.append(search)
        if search.interrupted:
            break
    found = [search for search in searches if search.placement is not None]
    if not found:
        general = [search for search, (_, on_last) in zip(searches, plans) if not on_last]
        status = "infeasible" if general and all(search.status == "infeasible" for search in general) else "unknown"
        result = pipeline_result(problem, None, "cpsat", status, started, baselines, tracker, cut=cut)
        if status == "infeasible":
            result.metrics["reason"] = infeasibility_reason(problem)
        return result
    winner = min(found, key=lambda search: search.iteration)
    interrupted = any(search.interrupted for search in searches)
    # with shards, a search's bound holds for its timing (and shard freedom) only
    bound = free_bound if problem.head else searches[0].bound
    status = "optimal" if bound is not None and winner.iteration <= bound else "feasible"
    return pipeline_result(problem, winner.placement, "cpsat", status, started, baselines, tracker,
                           bound=ms(bound), interrupted=interrupted, cut=cut)
