"""Compare: the shipped model beside the published weights, measured in one run; then the paper's Fig. 4
(accuracy against FLOPs and Params) with Table II's 15 algorithms as context and the models measured here on
the same axes, with Pareto fronts."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import analysis as dash
from dashboard import common, views
from lwirst import analysis, comparison
from lwirst.metrics import NIOU_CONVENTION
from lwirst.scoring import CARD, metric_spec, metric_specs


def main() -> None:
    st.title("Compare")
    one_run()
    st.subheader("Accuracy against cost (the paper's Fig. 4)")
    metric, include_demo, include_sweeps, pareto = controls()
    measured = dash.measured_points(include_demo, include_sweeps)
    if include_demo and not measured["name"].str.startswith(dash.DEMO_POINT).any():
        st.caption("The untrained demo network has no evaluation on this server's data yet: switch on 'Offer "
                   "the untrained demo network' (sidebar, Developer options), pick it as the model and run "
                   "Evaluate, and its points join the charts.")
    scatter(analysis.fig4_points(measured[dash.plotted(measured)]), metric, pareto, measured)
    measured_table(measured, include_demo)
    paper_table()


def one_run() -> None:
    """The shipped model and the published weights, scored in one run of one protocol on the same data."""
    run = comparison.load_comparison()
    if run is None:
        return
    st.subheader("The shipped model and the published weights, measured in one run")
    same_weights(run)
    number = st.column_config.NumberColumn
    model = {"model": st.column_config.TextColumn("model", pinned=True)}  # in view while a narrow window scrolls
    formats = {**model, **{spec.label: number(format=f"%.{spec.decimals}f") for spec in metric_specs(CARD)}}
    for part, title in comparison.PARTS.items():
        table = comparison.part_table(run, part)
        if not table.empty:
            st.markdown(f"**{title}**")
            st.dataframe(table, hide_index=True, key=f"compare_run_{part}", column_config=formats)
    suite = comparison.suite_table(run)
    if not suite.empty:
        st.markdown("**Cross-domain suite** (`lwirst evaluate --suite xdomain`; pooled over its parts)")
        st.dataframe(suite, hide_index=True, key="compare_run_suite", column_config={
            **model, "Pd": number(format="%.4f"), "false blobs per empty frame": number(format="%.3f"),
            "empty frames alarmed": number(format="percent")})
    st.caption(f"Both sides from {run.source}. Protocol: {run.protocol}. The published weights are the authors' "
               "ONNX (kourenke/LW-IRSTNet), measured locally, never shipped. SIRST test is reported, never used "
               "to choose anything.")


def same_weights(run: comparison.ComparisonRun) -> None:
    """Whether the record's shipped side scored the weights this server ships (a record kept from earlier weights
    showed their figures as this model's)."""
    scored = run.scored("shipped", common.DEFAULT_MODEL)
    if scored is False:
        st.warning(f"This record scored other weights than the shipped model this server runs "
                   f"(`{common.DEFAULT_MODEL.name}` has changed since): its shipped row is not this model's figures. "
                   "Run the command in the caption below again to measure them.", icon=":material/warning:")
    elif scored is None:
        st.caption("The record names no content hash for its shipped side: nothing shows that its figures are "
                   "those of the weights this server ships.")


def controls() -> tuple[str, bool, bool, bool]:
    """Accuracy metric, which measured points to show, and the Pareto fronts."""
    row = st.container(horizontal=True, gap="medium", vertical_alignment="bottom")  # wraps, never cuts a label
    accuracy = accuracy_metrics()
    metric = row.radio("Score", list(accuracy), key="compare_metric", horizontal=True,
                       help="The paper's Fig. 4 plots mIoU; Table II also prints P, R and F1. For the others "
                            "(a metric plugin's too) only this project's models have points. Where lower is "
                            "better (Fa), the Pareto fronts keep the lowest")
    include_demo = row.checkbox("Untrained demo", key="compare_demo",
                                help="Its random weights score near zero and squash the accuracy axis")
    include_sweeps = row.checkbox("Sweep presets", key="compare_sweeps",
                                  help="Presets trained by the sweep (data/ablations/*.csv), mean over "
                                       "seeds: short schedules, far below trained models (see Ablations)")
    pareto = row.checkbox("Pareto fronts", value=True, key="compare_pareto",
                          help="Per source: the points no other point beats on both cost and accuracy")
    return accuracy[metric], include_demo, include_sweeps, pareto


def accuracy_metrics() -> dict[str, str]:
    """Label -> key of every card metric with a better direction (the metric table's, a plugin's too): the
    paper's Fig. 4 metric and Table II's first, then the others; those where lower is better (Fa) last."""
    specs = [spec for spec in metric_specs(CARD) if spec.better]
    first = [spec for key in ("miou", "f1") for spec in specs if spec.key == key]
    rest = sorted((s for s in specs if s not in first), key=lambda s: s.better == "lower")  # stable: table order
    return {spec.label: spec.key for spec in [*first, *rest]}


def scatter(points: pd.DataFrame, metric: str, pareto: bool, measured: pd.DataFrame) -> None:
    """Fig. 4: accuracy against FLOPs and against Params, log axes, paper and measured points apart (`measured`:
    every model listed below them, plotted or not, so that an empty chart says which it is)."""
    label = metric_spec(metric).label
    if metric not in points or not points[metric].notna().any():  # an empty chart read like a broken one
        if metric in measured and measured[metric].notna().any():
            st.info(f"Table II prints no {label}, and the models below that have one cannot be plotted (each is "
                    "named under the table with why: scored on too few images, or its cost unknown). Evaluate "
                    "a model on a larger set, and its points join the charts.")
        else:
            st.info(f"No model has been scored on {label} yet: Table II prints none, and no card or run on this "
                    "server recorded it. Run Evaluate on a model, and its points join the charts.")
        return
    if metric not in analysis.paper_points().columns:
        st.caption(f"Table II prints no {label}: only this project's models have points.")
    charts = st.container(horizontal=True, gap="small")  # side by side where they fit at their width, else stacked
    charts.plotly_chart(views.legible(analysis.fig4_figure(points, metric, "flops_m", pareto)), key="compare_flops",
                        width=views.CHART_WIDTH)
    charts.plotly_chart(views.legible(analysis.fig4_figure(points, metric, "params_m", pareto)), key="compare_params",
                        width=views.CHART_WIDTH)
    st.caption(f"Markers show the kind of source, the same whatever else is shown: grey circles "
               f"**{analysis.PAPER_SOURCE}**, the paper's scores as printed on the union of MDFA, SIRST, SIRST-Aug "
               "and NUDT-SIRST (Sec. V-A): context, not a measurement to compare with (the comparison is the "
               "one run above); stars this project's **model cards**, squares models **measured here**, "
               "diamonds presets of the ablation sweep (mean over seeds); filled for input protocol auto, open for "
               "resize, open with a dot for native, filled with a dot for pyramid. The shipped model is always "
               "blue. Each legend entry names "
               "the dataset and split its points were scored on, a run's protocol as it ran and its threshold "
               "where it is not the paper's (probability 0.5); a dashed line in a source's colour is its Pareto "
               "front (clicking an entry hides its points and front). Scores on different data are not "
               "comparable. FLOPs are per 256×256 frame (the paper's convention) "
               "whatever size a run's frames were, every run of the frame counted: a run with scale consensus "
               "(named so) counts its second run too, 1 + s² times the network's (3.25× at 1.5×), where Evaluate's "
               "'FLOPs per 256×256 frame' card counts the network once (its 'FLOPs per frame run' counts every run "
               "at the sizes the frames ran). Params do not depend on the size.")


def measured_table(measured: pd.DataFrame, include_demo: bool) -> None:
    """The measured models with their scores and cost (those without a known cost are not plotted), and how many
    cached results of other code are left out."""
    st.subheader("This project's models")
    if measured.empty:
        st.info("No model to show: no trained model has a card, nothing was evaluated on this server's data "
                "(Evaluate page) and no ablation sweep wrote data/ablations/*.csv.")
        return
    scores = [spec for spec in metric_specs(CARD) if spec.key in measured and measured[spec.key].notna().any()]
    # scores beside the name, where a narrow window still shows them; the long source label last
    columns = ["name", *(spec.key for spec in scores), "flops_m", "params_m", "fps", "source"]
    shown = measured[columns + (["schedule"] if "schedule" in measured.columns else [])]
    # Unknown values (an ONNX file's cost, a card without a speed) read "—", not "None" (`views.as_text`)
    table = shown.assign(name=analysis.distinct_names(measured))  # a repeated name says what tells it apart
    for spec in scores:  # every card metric of the metric table (a plugin's too), as the cards scale it
        table[spec.key] = views.as_text(shown[spec.key] * spec.scale, spec.decimals)
    for column, n in {"flops_m": 1, "params_m": 4, "fps": 1}.items():
        table[column] = views.as_text(shown[column], n)
    if "schedule" in table.columns:
        table["schedule"] = table["schedule"].fillna("—")
    text = st.column_config.TextColumn
    st.dataframe(table, hide_index=True, key="compare_measured", column_config={
        "name": text("name", pinned=True),  # stays in view while a narrow window scrolls to the source
        **{spec.key: text(spec.label, help=spec.help) for spec in scores},
        "flops_m": text("FLOPs (M)", help="Per 256×256 frame; a consensus run's include its second run (1 + s²×)"),
        "params_m": text("Params (M)"),
        "source": text("scored by, on (dataset, split, protocol)"),
        "schedule": text("sweep schedule", help="The ablation sweep's training schedule (its rows only)"),
        "fps": text("model-only fps", help="Network calls per second on the machine that measured it")})
    if "niou" in table.columns:  # a model that finds nothing still scores its target-free images
        st.caption(f"nIoU: {NIOU_CONVENTION}, so a run on data with target-free images reads above 0 even where "
                   "it finds nothing (its mIoU and Pd say so).")
    unplotted = shown[shown[["flops_m", "params_m"]].isna().any(axis=1)]
    if not unplotted.empty:
        st.caption(f"Not on the charts (cost unknown: an ONNX graph whose params and FLOPs cannot be counted, or "
                   f"a model this server does not offer whose run was cached before evaluations recorded its cost; "
                   f"evaluating it again records it): {', '.join(unplotted['name'])}")
    few = measured[~dash.plotted(measured)]
    if not few.empty:
        st.caption(f"Not on the charts (scored on fewer than {dash.FIG4_MIN_IMAGES} images, too few to stand "
                   f"beside benchmark scores): {', '.join(few['name'] + ' (' + few['source'] + ')')}")
    if unreadable := dash.unreadable_cards():
        st.caption(f"Not shown: model files whose card cannot be read (replace or remove the file): "
                   f"{'; '.join(unreadable)}")
    if other := dash.runs_of_other_code(include_demo):
        st.caption(f"Not shown: {other} cached evaluation(s) scored by another version of lwirst or of a model or "
                   "metric module (their figures may differ from this code's); evaluate them again to show them.")


def paper_table() -> None:
    """Table II as printed."""
    with st.expander("Table II as printed (paper)"):
        st.dataframe(analysis.paper_points().drop(columns=["source"]), hide_index=True)


main()
