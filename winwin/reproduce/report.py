"""``REPRODUCTION.md``: the small-scale reproduction of the paper's tables, written from the finished runs
alone (a pure function of them, rewritten after every run, so rows may still be missing): per table our
numbers (mean ± std over seeds) beside the paper's, whether each row converged, the rows at equal training
time, whether the paper's orderings reproduce, and the learning curves (``images/<table>_curves.png``)."""

from __future__ import annotations

import statistics
from pathlib import Path

from ..files import atomic_write_text
from .figures import save_resolution, save_temperature
from .plots import save_curves, sorted_curve
from .report_header import DASH, header
from .tables import TUNED

CONVERGED_AT = 0.75  # compare the last validation value with the one at this fraction of the steps
CONVERGED_TOLERANCE = 0.02  # relative to the last value


def _std(values: list[float]) -> float | None:
    """Sample standard deviation; None with fewer than two values."""
    return statistics.stdev(values) if len(values) > 1 else None


def group_results(results: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """Runs by (table, row), sorted by seed; a later result for the same seed replaces an earlier one."""
    latest = {(r["table"], r["row"], r["seed"]): r for r in results}
    groups: dict[tuple[str, str], list[dict]] = {}
    for (table, row, _), run in latest.items():
        groups.setdefault((table, row), []).append(run)
    return {key: sorted(runs, key=lambda r: r["seed"]) for key, runs in groups.items()}


def row_names(table: dict, groups: dict) -> list[str]:
    """The table's rows, then rows that have results but are not in the table (in the order they came)."""
    names = [row["name"] for row in table["rows"]]
    return names + [row for key, row in groups if key == table["key"] and row not in names]


def _decimals(table: dict) -> int:
    return table.get("decimals", 1 if table.get("scale", 1) >= 10 else 3)


def fmt(value: float | None, table: dict) -> str:
    """A metric value, scaled for display like the paper's numbers ("—" for None)."""
    return DASH if value is None else f"{value * table.get('scale', 1):.{_decimals(table)}f}"


def variant_values(runs: list[dict], variant: str, metric: str) -> list[float]:
    """The runs' test metric for ``variant`` (runs that lack it are left out)."""
    return [r["variants"][variant][metric] for r in runs if metric in r.get("variants", {}).get(variant, {})]


def mean_std(values: list[float], table: dict) -> str:
    """``mean ± std (n)``, scaled; the std is "—" with one seed."""
    if not values:
        return DASH
    std = _std(values)
    return f"{fmt(statistics.fmean(values), table)} ± {fmt(std, table)} ({len(values)})"


def _relative_change(curves: list[list[dict]], key: str) -> float | None:
    """Mean over seeds of ``key`` at the curve's last point against its last point at or before 75% of the
    steps, relative to the last value; None when a curve lacks such points."""
    earlier = [[p for p in c if p["step"] <= CONVERGED_AT * c[-1]["step"]] for c in curves]
    if not curves or not all(earlier) or any(key not in c[-1] or key not in e[-1] for c, e in zip(curves, earlier)):
        return None
    last = statistics.fmean(c[-1][key] for c in curves)
    before = statistics.fmean(e[-1][key] for e in earlier)
    return (last - before) / max(abs(last), 1e-12)


def convergence(runs: list[dict], higher_is_better: bool) -> str:
    """ "yes" when, averaged over seeds, the curve's last value and its value at ~75% of the steps (the last
    point at or before it) differ by less than 2% of the last value; else "no (still improving by X%)". The
    validation loss's change over the same stretch follows when the curves have it."""
    curves = [c for c in (sorted_curve(r) for r in runs) if len(c) > 1]
    change = _relative_change(curves, "value")
    if change is None:
        return DASH
    if abs(change) < CONVERGED_TOLERANCE:
        verdict = "yes"
    else:
        trend = "still improving" if (change > 0) == higher_is_better else "getting worse"
        verdict = f"no ({trend} by {abs(change) * 100:.1f}%)"
    loss = _relative_change(curves, "loss")
    return verdict if loss is None else f"{verdict}; val loss {loss * 100:+.1f}%"


def _row_variants(row: dict, runs: list[dict]) -> list[str]:
    """The test variants the table asks of the row (its paper's first); a row unknown to the table: every
    variant its runs hold."""
    names = list(row.get("paper", {}))
    declared = row.get("variants") or [v for run in runs for v in run.get("variants", {})]
    return names + [v for v in dict.fromkeys(declared) if v not in names]


def _variant_label(variant: str, runs: list[dict]) -> str:
    """The variant's name, with the mean extra time it took beyond training (e.g. learning temperatures)."""
    extra = [r["variants"][variant]["extra_s"] for r in runs if "extra_s" in r.get("variants", {}).get(variant, {})]
    return f"{variant} (+{statistics.fmean(extra) / 60:.1f} min)" if extra else variant


def _mean_of(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.fmean(values) if values else None


def _cell(text: str) -> str:
    """``text`` inside a Markdown table cell: a '|' (Table 3's rows name both frames' windows) escaped."""
    return text.replace("|", "\\|")


def _paper(value) -> str:
    """The paper's number as the paper prints it (``str``: 60.0 stays 60.0, 1.23 stays 1.23)."""
    return DASH if value is None else str(value)


def train_seconds(runs: list[dict]) -> float | None:
    """A row's training time: its steps x the step time timed back to back with the other rows' (``timing``),
    else (no timing) the mean wall time its runs took."""
    steps, step_s = _mean_of(runs, "steps"), _mean_of(runs, "step_s")
    return steps * step_s if steps is not None and step_s is not None else _mean_of(runs, "train_wall_s")


def _minutes(seconds: float | None) -> str:
    return DASH if seconds is None else f"{seconds / 60:.1f}"


def _as_run(runs: list[dict]) -> str:
    """The mean training time the runs measured, marked when some trained on a GPU (not this CPU's time)."""
    on_gpu = sum(1 for r in runs if r.get("machine", {}).get("gpu"))
    mark = "" if not on_gpu else " (GPU)" if on_gpu == len(runs) else f" ({on_gpu} of {len(runs)} on GPU)"
    return _minutes(_mean_of(runs, "train_wall_s")) + mark


def _row_lines(table: dict, row: dict, runs: list[dict]) -> list[str]:
    """The results table's lines for one row: one per test variant; the per-row columns on the first."""
    if not runs:
        paper = row.get("paper") or {DASH: None}
        return [f"| {_cell(row['name'])} | {v} | not run yet | {_paper(p)} | | | | | |" for v, p in paper.items()]
    steps, flops = _mean_of(runs, "steps"), _mean_of(runs, "flops_per_step")
    per_row = [
        DASH if steps is None else f"{steps:.0f}",
        _minutes(train_seconds(runs)),
        _as_run(runs),
        DASH if flops is None else f"{flops / 1e9:.3g}",
        convergence(runs, table.get("higher_is_better", True)),
    ]
    lines = []
    for i, variant in enumerate(_row_variants(row, runs)):
        ours = mean_std(variant_values(runs, variant, table["metric"]), table)
        paper = _paper(row.get("paper", {}).get(variant))
        label = _variant_label(variant, runs)
        cells = per_row if i == 0 else [""] * len(per_row)
        lines.append(" | ".join([f"| {_cell(row['name'])}", label, ours, paper, *cells]) + " |")
    return lines


def results_section(table: dict, rows: list[dict], groups: dict) -> list[str]:
    """The main table: ours beside the paper's, with training cost and convergence, plus row notes."""
    lines = [
        f"Ours: mean ± sample std (number of seeds) of {table.get('unit', table['metric'])} on the test set. "
        f"Converged?: averaged over seeds, the validation {table['metric']} (full resolution, temperature 1) at "
        f"the last curve point against the last point at or before {CONVERGED_AT:.0%} of the steps; converged "
        f"when they differ by less than {CONVERGED_TOLERANCE:.0%} of the last value (the validation loss's change "
        "over the same stretch is given beside it: the metric of a small validation set is noisy). Train min/run: "
        "the steps times the row's step time (forward, loss, backward, AdamW), timed back to back with every other "
        "row's at the start of the reproduction (comparable between rows); as run: the training time the runs "
        "measured, data loading included (longer when other work shared the machine; GPU: trained on a GPU, "
        "named in the run's result file, so not this CPU's time).",
        "",
        "| row | test variant | ours | paper | steps | train min/run | as run | GFLOP/step | converged? |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines += _row_lines(table, row, groups.get((table["key"], row["name"]), []))
    notes = [f"- {row['name']}: {row['note']}" for row in rows if row.get("note")]
    notes = ["Row notes:", "", *notes] if notes else []
    missing = [row["name"] for row in rows if not groups.get((table["key"], row["name"]))]
    if missing:
        lines += ["", "Rows not run yet: " + ", ".join(missing) + "."]
    return lines + ([""] + notes if notes else [])


def value_at_time(run: dict, seconds: float) -> dict | None:
    """The run's last curve point reached within ``seconds`` of training (by its timed step time when it has
    one, else by the wall time it measured); None if there is none."""
    step_s = run.get("step_s")
    within = (lambda p: p["step"] * step_s <= seconds) if step_s else (lambda p: p["wall_s"] <= seconds)
    points = [p for p in sorted_curve(run) if within(p)]
    return points[-1] if points else None


def _curve_cell(points: list[dict], table: dict) -> str:
    """Mean value over seeds (and mean step) of the given curve points."""
    if not points:
        return DASH
    value = statistics.fmean(p["value"] for p in points)
    step = statistics.fmean(p["step"] for p in points)
    return f"{fmt(value, table)} (step {step:.0f}, {len(points)} seeds)"


def equal_time_section(table: dict, rows: list[dict], groups: dict) -> list[str]:
    """Every row's validation value at the reference row's mean training time T, next to its final value."""
    reference = groups.get((table["key"], table.get("reference_row")), [])
    seconds = train_seconds(reference)
    if seconds is None:
        return [f"Reference row {table.get('reference_row')!r} not run yet: no equal-time comparison."]
    lines = [
        f"T = {seconds / 60:.1f} min, the mean training time of the reference row {table['reference_row']!r}. "
        f"At T: the mean over seeds of the validation {table['metric']} at each run's last evaluation at or "
        "before T (the step reached in brackets).",
        "",
        "| row | train min/run | at T | at the end |",
        "|---|---|---|---|",
    ]
    for row in rows:
        runs = groups.get((table["key"], row["name"]), [])
        if not runs:
            continue
        at_t = [p for p in (value_at_time(r, seconds) for r in runs) if p is not None]
        ends = [c[-1] for c in (sorted_curve(r) for r in runs) if c]
        minutes = _minutes(train_seconds(runs))
        lines.append(f"| {_cell(row['name'])} | {minutes} | {_curve_cell(at_t, table)} | {_curve_cell(ends, table)} |")
    return lines


def _claim_head(claim: dict, better_variant: str, worse_variant: str) -> str:
    """``- text (better vs worse, variant):``, naming both variants when they differ."""
    if better_variant == worse_variant:
        sides = f"{claim['better']} vs {claim['worse']}, {better_variant}"
    else:
        sides = f"{claim['better']} ({better_variant}) vs {claim['worse']} ({worse_variant})"
    return f"- {claim['text']} ({sides}): "


def _spread(difference: float, stds: list[float], table: dict) -> str:
    """Whether a difference of means exceeds the larger of the two seed stds."""
    if not stds:
        return "seed spread unknown (one seed each)"
    if difference > max(stds):
        return f"the difference {fmt(difference, table)} exceeds the seed spread (std {fmt(max(stds), table)})"
    return f"within the seed spread (difference {fmt(difference, table)}, std {fmt(max(stds), table)})"


WEAK = "weak"  # a claim's outcome: the paper's direction, but not beyond the seed spread (or one seed)


def check_claim(claim: dict, table: dict, groups: dict) -> tuple[str, bool | str | None]:
    """One claim's line and its outcome: True (reproduced: the paper's direction, by more than the larger
    seed std), ``WEAK`` (the paper's direction, within the seed spread or with one seed), False (not
    reproduced), None (one of its rows has no result yet). The claim's ``variant`` tests both rows unless
    ``worse_variant`` names the worse row's; an optional ``tolerance`` (in displayed units) lets "better" be
    worse by that much (for "matches" claims, which need no separation)."""
    metric = table["metric"]
    better_variant = claim.get("variant", "full")
    worse_variant = claim.get("worse_variant", better_variant)
    better = variant_values(groups.get((table["key"], claim["better"]), []), better_variant, metric)
    worse = variant_values(groups.get((table["key"], claim["worse"]), []), worse_variant, metric)
    head = _claim_head(claim, better_variant, worse_variant)
    if not better or not worse:
        return head + "not run yet.", None
    b, w = statistics.fmean(better), statistics.fmean(worse)
    margin = claim.get("tolerance", 0) / table.get("scale", 1)
    agrees = b > w - margin if table.get("higher_is_better", True) else b < w + margin
    stds = [s for s in (_std(better), _std(worse)) if s is not None]
    separated = bool(stds) and abs(b - w) > max(stds)
    outcome = False if not agrees else True if separated or "tolerance" in claim else WEAK
    verdict = {
        True: "reproduced",
        WEAK: "in the paper's direction, not beyond the seed spread",
        False: "**NOT reproduced**",
    }
    shown = [fmt(b, table), fmt(w, table)]
    if shown[0] == shown[1]:  # equal at the table's precision: two more decimals show which is ahead
        shown = [f"{v * table.get('scale', 1):.{_decimals(table) + 2}f}" for v in (b, w)]
    line = f"{head}{verdict[outcome]}: ours {shown[0]} vs {shown[1]}; {_spread(abs(b - w), stds, table)}."
    return line, outcome


def claims_section(table: dict, groups: dict) -> tuple[list[str], list[bool | str | None]]:
    """The claims' lines, the orderings that do not reproduce, and each claim's outcome."""
    checked = [check_claim(c, table, groups) for c in table.get("claims", [])]
    failed = [c["text"] for c, (_, ok) in zip(table.get("claims", []), checked) if ok is False]
    lines = [line for line, _ in checked] or ["No claims for this table."]
    lines += ["", "Orderings that do not reproduce: " + ("; ".join(failed) if failed else "none") + "."]
    return lines, [ok for _, ok in checked]


FIGURES = {"curves": "learning curves", "temperature": "temperature sweeps", "resolution": "test resolution"}


def _figure_lines(out_dir: Path, table: dict, rows: list[dict], groups: dict) -> list[str]:
    """Draw the table's figures; the markdown that shows them."""
    runs = [(row["name"], groups.get((table["key"], row["name"]), [])) for row in rows]
    reference = train_seconds(groups.get((table["key"], table.get("reference_row")), []))
    lines = []
    for kind in table.get("figures", ["curves"]):
        name, what = f"{table['key']}_{kind}.png", FIGURES[kind]
        path = out_dir / "images" / name
        if kind == "curves":
            drawn = save_curves(path, table, runs, reference)
        elif kind == "temperature":
            drawn = save_temperature(path, table, runs, TUNED)
        else:
            drawn = save_resolution(path, table, runs)
        if not drawn:
            path.unlink(missing_ok=True)  # a picture of earlier runs would not match the tables
        lines += [f"![{table.get('title', table['key'])}: {what}](images/{name})" if drawn else f"No {what} yet.", ""]
    return lines


def table_section(out_dir: Path, table: dict, groups: dict) -> tuple[list[str], list[bool | None]]:
    """One table's part of the report and its claims' outcomes."""
    names = row_names(table, groups)
    known = {row["name"]: row for row in table["rows"]}
    rows = [known.get(name, {"name": name, "note": "not a row of the table"}) for name in names]
    direction = "higher" if table.get("higher_is_better", True) else "lower"
    claims, outcomes = claims_section(table, groups)
    lines = [
        f"## {table.get('title', table['key'])}",
        "",
        f"Paper: {table.get('paper_source', DASH)}. Metric: {table.get('unit', table['metric'])}, {direction} is "
        "better.",
        "",
        *([table["intro"], ""] if table.get("intro") else []),
        *results_section(table, rows, groups),
        "",
        *(
            ["### At equal training time", "", *equal_time_section(table, rows, groups), ""]
            if "curves" in table.get("figures", ["curves"])
            else []
        ),
        "### The paper's orderings",
        "",
        *claims,
        "",
        *_figure_lines(out_dir, table, rows, groups),
        "",
    ]
    return lines, outcomes


def write_report(out_dir: Path, tables: list[dict], results: list[dict], machine: dict, command: str) -> Path:
    """Write ``out_dir/REPRODUCTION.md`` (and its pictures under ``out_dir/images``) from the finished
    runs; tables whose rows have no results yet are reported as such. Returns the markdown's path."""
    out_dir = Path(out_dir)
    groups = group_results(results)
    body, outcomes = [], []
    for table in tables:
        lines, table_outcomes = table_section(out_dir, table, groups)
        body += lines
        outcomes += table_outcomes
    summary = (
        f"Claims: {outcomes.count(True)} reproduced, {outcomes.count(WEAK)} in the paper's direction but not "
        f"beyond the seed spread, {outcomes.count(False)} not reproduced, {outcomes.count(None)} waiting for runs."
    )
    text = "\n".join([*header(tables, results, groups, machine, command), summary, "", *body])
    path = out_dir / "REPRODUCTION.md"
    atomic_write_text(path, text.rstrip() + "\n")
    return path
