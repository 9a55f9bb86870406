"""Ablations: the paper's Tables III-IX beside this project's figures for the same presets: Params and
FLOPs computed from each preset, mIoU / F1 from the project's ablation sweeps (or plainly missing)."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import streamlit as st

from dashboard import analysis as dash
from dashboard import views
from lwirst import ablation_stats, analysis, schedule
from lwirst.rounding import count_text
from lwirst.sweep import TABLES, UNCONVERGED_EPOCHS, chosen_variant


def main() -> None:
    st.title("Ablations")
    schedule_evidence()
    results = sweep_results()
    table, metric = controls()
    results = choose_experiment(results, table)
    provenance(results, table)
    view = table_view(table, results, metric)
    verdict(view, metric)
    paper_choice(table, results, metric, view)
    comparison_table(view, metric)
    winner_chart(view, metric, table)
    ranking(view)


@st.cache_data(max_entries=1)
def schedule_curves() -> pd.DataFrame | None:
    """The ablation schedule's validation curves (data/ablations/schedule/curves.csv), if measured."""
    return schedule.load_curves()


def schedule_evidence() -> None:
    """First: which schedule the converged rows train with, and the curves that chose it (or why none is yet)."""
    curves = schedule_curves()
    if curves is None:
        return
    result = schedule.verdict(curves)
    reference = int(curves.loc[curves["schedule"] == schedule.REFERENCE, "epochs"].max())
    rule = (f"{schedule.SHARE:.0%} of the mean best val IoU of the full {reference}-epoch recipe's "
            f"{schedule.SEEDS} seeds")
    if result.bar is None:
        st.warning(f"No schedule is pinned yet: the convergence bar ({rule}) waits for the full recipe's seeds "
                   f"({result.reference_seeds} of {schedule.SEEDS} measured; a seed whose curve was lost counts by "
                   "its recorded best), so every score below comes from a schedule that may not have converged.",
                   icon=":material/science:")
    elif result.chosen_epochs is None:
        st.warning(f"No measured schedule has reached the convergence bar yet ({rule}: {result.bar:.3f}): every "
                   "score below comes from a schedule that may not have converged.", icon=":material/science:")
    elif result.chosen_epochs == reference:
        st.markdown(f"**Schedule:** the full default recipe ({reference} epochs at 256×256 on SIRST train, best "
                    f"epoch chosen on val): no candidate's {schedule.SEEDS} seeds reached {rule} "
                    f"({result.bar:.3f}), so by the rule's last step the full recipe is the schedule.")
    else:
        st.markdown(f"**Schedule:** `--recipe ablation`, the default recipe cut to {result.chosen_epochs} "
                    f"epochs at 256×256 on SIRST train, best epoch chosen on val: the shortest schedule whose "
                    f"{schedule.SEEDS} seeds' mean best val IoU reached {rule} ({result.bar:.3f} of "
                    f"{result.reference_best:.3f}), every seed at least {schedule.FLOOR:g}.")
    with st.expander("Why this schedule: validation IoU per epoch"):
        st.plotly_chart(views.legible(schedule.curves_figure(curves, result)), key="schedule_curves")
        st.dataframe(result.candidates, hide_index=True, column_config={
            "mean_best": st.column_config.NumberColumn("mean best val IoU", format="%.4f"),
            "lowest_best": st.column_config.NumberColumn("lowest seed's best", format="%.4f"),
            "passes": "reaches the bar (empty: bar pending)"})
        st.dataframe(result.runs, hide_index=True, column_config={
            "best_val_iou": st.column_config.NumberColumn("best val IoU", format="%.4f"),
            "final_val_iou": st.column_config.NumberColumn("final val IoU", format="%.4f"),
            "best_epoch": "best epoch"})


def sweep_results() -> pd.DataFrame:
    """The project's sweep results (data/ablations/*.csv); unreadable files are named, not fatal."""
    results, problems = dash.ablation_results()
    for problem in problems:
        st.warning(f"Skipped {problem}", icon=":material/warning:")
    if results.empty:
        st.info(f"No ablation results yet in {analysis.ABLATIONS_DIR.name}/: every row below is "
                f"{analysis.NOT_MEASURED}. Params and FLOPs are computed from the presets all the same.")
    return results


def controls() -> tuple[str, str]:
    """The table, the score (mIoU or F1) and which weights scored it (best-validation or last epoch)."""
    # the table's title on a row of its own: beside the radios, at 1024 px it was cut to "Convolution methods of DAA…"
    table = st.selectbox("Table", TABLES, key="ablation_table",
                         format_func=lambda t: f"Table {t}: {analysis.TABLE_TITLES[t]}")
    row = st.container(horizontal=True, gap="large")
    metric = row.radio("Score", ["mIoU", "F1"], key="ablation_metric", horizontal=True)
    when = row.radio("Weights", ["best", "final"], key="ablation_when", horizontal=True,
                     help="best: the epoch with the best validation IoU; final: after the last epoch")
    return table, f"{when}_{'miou' if metric == 'mIoU' else 'f1'}"


def choose_experiment(results: pd.DataFrame, table: str) -> pd.DataFrame:
    """With this table swept under several schedules or on several datasets or splits, the one to show."""
    experiments = analysis.sweep_experiments(results, table)
    if len(experiments) < 2:
        return next(iter(experiments.values()), results)
    label = st.selectbox("Sweep (training schedule · data)", list(experiments), key="ablation_schedule",
                         help="Runs of another schedule, dataset or split are another experiment, not more seeds")
    return experiments[label]


@st.cache_data(max_entries=32, show_spinner="Computing Params and FLOPs of every preset...")
def table_view(table: str, results: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Paper figures, computed Params/FLOPs and measured scores of every preset of the table."""
    return analysis.ablation_view(table, results, metric)


def verdict(view: pd.DataFrame, metric: str) -> None:
    """Which variant wins in the paper and here, and how well the two rankings agree."""
    agreement = analysis.rank_agreement(view)
    best, why = analysis.best_here(view)
    paper, here, tau = st.columns(3)
    paper.metric("Paper's best", agreement.paper_winner or "-", help="On the paper's fusion set, 100+ epochs")
    here.metric("Best here", best, help=why)
    st.caption(f"Best here: {why}.")
    noisy = pd.isna(agreement.p_value) or agreement.p_value > 0.05
    # the card itself says when the agreement is noise: a headline number alone invites a reading it cannot bear
    tau.metric("Kendall tau (paper vs here)", "n/a" if pd.isna(agreement.tau) else f"{agreement.tau:+.2f}",
               delta=None if pd.isna(agreement.tau) or not noisy else "not significant",
               delta_color="off", delta_arrow="off",
               help=f"Rank correlation over the {agreement.compared} row(s) measured here"
                    + ("" if pd.isna(agreement.p_value) else f"; p = {agreement.p_value:.2f}")
                    + ("; not significant: no evidence either way" if noisy else ""))


def paper_choice(table: str, results: pd.DataFrame, metric: str, view: pd.DataFrame) -> None:
    """In words: does the paper's chosen row beat each alternative here beyond the seed noise? (rows named
    as the table names them)"""
    rows = results[results["table"] == table] if not results.empty else results
    chosen = chosen_variant(table)
    comparisons = ablation_stats.paired_comparisons(rows, chosen, metric) if not rows.empty else []
    if not comparisons:
        return
    names = dict(zip(view["preset"], view["row"], strict=True))
    shown = names.get(chosen, chosen)
    st.markdown(f"**The paper's choice ({shown}) here: {ablation_stats.table_verdict(comparisons)}** "
                f"(paired by seed, one-sided t-test at {ablation_stats.ALPHA:g})")
    st.caption(" · ".join(replace(c, alternative=names.get(c.alternative, c.alternative)).sentence(shown)
                          for c in comparisons))


def comparison_table(view: pd.DataFrame, metric: str) -> None:
    """Each row: printed FLOPs/Params beside the computed ones (with the verdict), printed score beside ours."""
    score = "F1" if metric.endswith("f1") else "mIoU"
    order = ["row", "paper", "here", "status", "paper_flops_m", "flops_m", "flops_check", "paper_params_m",
             "params_m", "params_check", "preset"]
    shown = view[order].rename(columns={
        "paper_flops_m": "FLOPs (M), paper", "flops_m": "FLOPs (M), computed", "flops_check": "FLOPs check",
        "paper_params_m": "Params (M), paper", "params_m": "Params (M), computed", "params_check": "Params check",
        "paper": f"{score}, paper", "here": f"{score}, here (mean)", "status": "measured here"})
    st.dataframe(shown, hide_index=True, key="ablation_rows", column_config={
        "row": st.column_config.TextColumn("row", pinned=True),  # in view while a narrow window scrolls right
        "FLOPs check": st.column_config.TextColumn("FLOPs check", width="medium"),
        "Params check": st.column_config.TextColumn("Params check", width="medium"),
        "FLOPs (M), computed": st.column_config.NumberColumn(format="%.2f"),
        "Params (M), computed": st.column_config.NumberColumn(format="%.4f"),
        f"{score}, here (mean)": st.column_config.NumberColumn(format="%.4f")})
    st.caption("Paper scores are on the fusion datasets; scores here on the sweep's dataset (named above). A merged "
               "cell of the printed table is checked against the row that prints it.")


def winner_chart(view: pd.DataFrame, metric: str, table: str) -> None:
    """Dot chart: paper vs here per variant, each side's winner starred."""
    st.plotly_chart(views.legible(analysis.ablation_figure(view, metric, table)), key="ablation_chart")


def ranking(view: pd.DataFrame) -> None:
    """The two rankings side by side."""
    with st.expander("Ranks (1 = best)"):
        st.dataframe(analysis.rank_table(view), hide_index=True)


def provenance(results: pd.DataFrame, table: str) -> None:
    """First: what the measured scores are (schedule, its limits, data, seeds, files)."""
    rows = results[results["table"] == table] if not results.empty else results
    if rows.empty:
        return
    epochs = int(rows["epochs"].max()) if "epochs" in rows.columns and rows["epochs"].notna().any() else None
    notes = [f"Note from the sweep: {note}" for note in (rows["note"].dropna().unique() if "note" in rows.columns
                                                           else [])]
    if epochs is not None and epochs < UNCONVERGED_EPOCHS:  # one box: what this is, and the sweep's notes
        st.warning("\n\n".join([f"**What this is:** a short screening schedule ({count_text(epochs, 'epoch')}, "
                                 f"{count_text(rows['seed'].nunique(), 'seed')} per row), far from the paper's "
                                 "training: the scores here are unconverged and noisy, so they rank variants only "
                                 "where the seed spread separates them. It is not a reproduction of the paper's "
                                 "tables.", *notes]),
                   icon=":material/science:")
    else:
        for note in notes:
            st.info(note, icon=":material/info:")
    columns = [c for c in ("dataset", "train_split", "test_split", "schedule", "epochs", "source_file", "commit")
               if c in rows.columns]
    summary = rows.groupby(columns, dropna=False).agg(seeds=("seed", "nunique"), runs=("seed", "size")).reset_index()
    # the schedule, a long recipe signature, last: the short columns stay in view at 1024 px
    order = [c for c in summary.columns if c != "schedule"] + ["schedule"] * ("schedule" in summary.columns)
    st.caption("Measured here on:")
    st.dataframe(summary[order], hide_index=True)
    dirty = "commit" in rows.columns and rows["commit"].astype(str).str.endswith("-dirty").any()
    st.caption("The command that wrote each file is beside it in data/ablations/README.md; commit is the lwirst "
               "commit its trials ran" + (" (\"-dirty\": with changes under lwirst/ not yet committed, so that exact "
                                          "code is not in the history)." if dirty else "."))


main()
