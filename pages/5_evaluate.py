"""Evaluate: score one or more models on a dataset split (metric cards, ROC / PR / Pd-Fa curves,
per-image table, downloads); results are cached on disk, so reopening is instant."""

from __future__ import annotations

import streamlit as st

from dashboard import analysis as dash
from dashboard import common, views
from lwirst import analysis
from lwirst.eval_protocol import SCORED_AT
from lwirst.evaluate import run_fields
from lwirst.postprocess import TargetFilter, describe_threshold, probability_text

RUN_REQUESTED = "eval_run_requested"  # set by the Run button: the page's next run evaluates what is missing


def main() -> None:
    st.title("Evaluate")
    target_filter = common.filter_controls()  # above Data in the sidebar, as on every page with it
    choice = common.data_source()
    if choice is None:
        return
    if common.own_content(choice.label):
        common.white_hot_note("The embedded samples are")
    models = choose_models(target_filter)
    threshold = choose_threshold()
    runs = results(models, choice, threshold, target_filter)
    if not runs:
        return
    metric_cards(runs)
    curves(runs)
    per_image(runs)
    downloads(runs)


def choose_models(target_filter: TargetFilter) -> dict[str, common.Engine]:
    """Models to score: any the server offers (the sidebar's first) and an optional ONNX upload, labelled with
    how they run and the Eq. 4 filter their targets pass."""
    chosen = common.engine()
    filtered = f" · filter {target_filter}" if target_filter.active else ""
    runs_on = chosen.runs_on + filtered
    options = dash.model_options()
    default = [st.session_state.get("model", next(iter(options)))]
    st.session_state.setdefault("eval_models", default)
    asked = st.session_state["eval_models"]
    if missing := [m for m in asked if m not in options]:  # a shared link's models this server lacks: said
        st.session_state["eval_models"] = [m for m in asked if m in options] or default
        st.session_state["eval_models_notice"] = (list(st.session_state["eval_models"]),
                                                  f"The link asked for {', '.join(map(repr, missing))}, which this "
                                                  "server does not offer; showing the others or the sidebar's model.")
    shown, notice = st.session_state.get("eval_models_notice", (None, ""))
    if notice and shown == st.session_state["eval_models"]:  # until the visitor picks other models
        st.caption(notice)
    labels = st.multiselect("Models", list(options), key="eval_models",
                            help=f"Run with the sidebar's backend, input protocol and scale consensus, "
                                 f"scored through its size / ratio filter ({runs_on})")
    models = {f"{label} · {runs_on}": dash.engine_for(options[label], chosen)
              for label in labels}
    upload = st.file_uploader("Or add an ONNX segmentation model (N×C×H×W in, N×1×H×W logits out)", type=["onnx"],
                              key="eval_onnx", max_upload_size=common.settings().max_upload_mb)
    if upload is not None:
        name = common.upload_name(upload)
        try:
            engine = dash.uploaded_engine(name, upload.getvalue(), chosen)  # on its capped worker backend
            models[f"upload: {name} · {engine.runs_on}{filtered}"] = engine
        except Exception as exc:
            dash.report_error(name, exc)
    if not models:
        st.info("Choose at least one model (or upload an ONNX model).")
    return models


def choose_threshold() -> float:
    """The threshold the metrics are computed at (a logit; 0 is the paper's Th, probability 0.5)."""
    st.session_state.setdefault("eval_threshold", 0.0)
    threshold = float(st.number_input("Threshold (logit)", *common.THRESHOLD_RANGE, step=0.5, key="eval_threshold",
                                      help="P, R, F1, mIoU, nIoU, Pd and Fa are computed at this threshold; AUC "
                                           "and the curves sweep every threshold"))
    # the CLI's --threshold takes a probability: show both so that a page and a command can be matched
    st.caption(f"= probability {probability_text(threshold, 3)} (`lwirst evaluate --threshold` takes the "
               f"probability, `--logit-threshold` this value)")
    return threshold


def results(models: dict[str, common.Engine], choice: common.DataChoice, threshold: float,
            target_filter: TargetFilter) -> list[dash.Run]:
    """Results of every model: from this session or the disk cache at once; the rest scored at once on a small
    dataset (the embedded samples), else on the Run button, as Failures does."""
    requested = st.session_state.pop(RUN_REQUESTED, False)  # only the run the click started takes it
    runs, missing = [], {}
    for label, engine in models.items():
        try:
            run = dash.stored_run(label, engine, choice, threshold, target_filter)
        except Exception as exc:
            dash.report_error(label, exc)
            continue
        if run is None:
            missing[label] = engine
        else:
            runs.append(run)
    if missing and (requested or dash.scored_unasked(choice)):
        done = run_models(missing, choice, threshold, target_filter)
        runs += done
        if len(done) < len(missing):  # a busy server, a file that failed: the button again, under the errors
            ran = {run.label for run in done}
            run_button({label: engine for label, engine in missing.items() if label not in ran}, choice)
    elif missing:
        run_button(missing, choice)
    return runs


def run_button(missing: dict[str, common.Engine], choice: common.DataChoice) -> None:
    """What is not evaluated yet, and the button that evaluates it in the page's next run (where the button is
    not drawn, so that it stands again after a run that failed)."""
    st.caption(f"Not evaluated yet on {choice.name}: {', '.join(missing)}.")
    st.button(f"Run evaluation ({len(missing)} model{'s' if len(missing) > 1 else ''})", type="primary",
              key="eval_run", on_click=lambda: st.session_state.update({RUN_REQUESTED: True}))


def run_models(models: dict[str, common.Engine], choice: common.DataChoice, threshold: float,
               target_filter: TargetFilter) -> list[dash.Run]:
    """Evaluate each model with a progress bar; a model that fails gets an error, the others go on."""
    runs = []
    for label, engine in models.items():
        bar = st.progress(0.0, text=f"{label}: starting...")
        try:
            runs.append(dash.evaluate_run(label, engine, choice, threshold, bar, target_filter))
        except Exception as exc:
            dash.report_error(label, exc)
        bar.empty()
    return runs


def metric_cards(runs: list[dash.Run]) -> None:
    """Each model's cards (accuracy; cost and speed; the operator row), with what they stand on and the
    protocol as it ran."""
    for run in runs:
        with st.container(border=True):
            st.markdown(f"**{run.label}** on {run.choice.name}: {analysis.sample_note(run.result.metrics)}")
            if note := dash.in_sample(run):
                st.warning(note, icon=":material/school:")
            card_row(analysis.metric_cards(run.result.metrics))
            card_row(analysis.cost_cards(run.result, run.params, run.flops))
            operator_row(run)
            threads, source = run.result.protocol.run.threads, run.result.protocol.rescored_from
            st.caption(" · ".join(run_fields(run.result)) + f" · scored at {SCORED_AT}"
                       + (f" · {threads} CPU thread{'s' * (threads != 1)}" if threads else "")
                       + " · model-only fps depends on the machine's load when it was measured"
                       + (f" · scored again from the maps of its run at threshold {describe_threshold(source)} (no "
                          "network; maps stored in float16)" if source is not None else ""))


CARD_WIDTH = 140  # CSS pixels of a metric card: "Fa (×1e-6)" and a four-decimal value fit whole


def card_row(cards: list[tuple[str, str, str]]) -> None:
    """Metric cards of `CARD_WIDTH` in a row that wraps: six or more per row on a wide window, fewer on a narrow
    one (six equal columns at 1024 px split "Fa (×1e-6)" over two lines)."""
    row = st.container(horizontal=True, gap="small")
    for label, value, help_ in cards:
        row.metric(label, value, help=help_, width=CARD_WIDTH)


def operator_row(run: dash.Run) -> None:
    """What an operator asks first: targets found, false alarms, per frame and on target-free frames."""
    st.markdown("**Operator view** (counts at this threshold; Pd at ≤0.1 FA/frame at the best of logit thresholds "
                "−8…8 and this one)")
    row = analysis.operator_row(run.result.metrics)
    card_row(row.cards)
    if row.notes:
        st.caption(" · ".join(row.notes))


def curves(runs: list[dash.Run]) -> None:
    """ROC and precision-recall side by side where two fit at `views.PANEL_WIDTH` (else one above the other),
    Pd-Fa below at full width (three in a row cut their titles and axis labels at 1024 px), the models
    overlaid."""
    if not any(run.result.metrics.get("targets") for run in runs):
        st.info("No target in this split: ROC, precision-recall and Pd-Fa have nothing to draw; its figures are "
                "its false alarms (above).")
        return
    shipped = [run.label for run in runs if run.label.startswith(f"{common.SHIPPED_LABEL} · ")]
    (roc, roc_figure), (pr, pr_figure), (pdfa, pdfa_figure) = analysis.curve_figures(
        {run.label: run.result for run in runs}, shipped).items()
    pair = views.pair_row()
    pair.plotly_chart(views.legible(roc_figure), key=f"eval_{roc}", width=views.PANEL_WIDTH)
    pair.plotly_chart(views.legible(pr_figure), key=f"eval_{pr}", width=views.PANEL_WIDTH)
    st.plotly_chart(views.legible(pdfa_figure), key=f"eval_{pdfa}")
    st.caption("Pd-Fa: each dot is one threshold; the line is the best Pd reachable at that Fa or lower (Pd is "
               "not monotone in Fa: at a lower threshold blobs merge and a centroid can drift off its target). "
               "Models with the same scores draw on top of each other; hover for each one's values.")


def per_image(runs: list[dash.Run]) -> None:
    """One model's per-image table, worst IoU first (click a header to sort by another column); a row picked opens
    its image on the Failures page."""
    st.subheader("Per image")
    run = runs[0]
    if len(runs) > 1:
        labels = [r.label for r in runs]
        run = runs[labels.index(st.selectbox("Model", labels, key="eval_table_model"))]
    table = views.image_table(analysis.per_image_table(run.result))
    st.caption("Select a row to inspect that image on the Failures page.")
    picked = st.dataframe(table, hide_index=True, key="eval_per_image", column_config=views.image_columns(),
                          column_order=views.image_order(table), on_select="rerun", selection_mode="single-row")
    if picked.selection.rows:
        dash.inspect_in_failures(run, str(table.iloc[picked.selection.rows[0]]["name"]))


def downloads(runs: list[dash.Run]) -> None:
    """Metrics as CSV, per-image rows as CSV and everything (curves and protocol too) as JSON."""
    results = {run.label: run.result for run in runs}
    metrics, images, everything = st.columns(3)
    metrics.download_button("Metrics CSV", analysis.metrics_table(results).to_csv(index=False).encode(),
                            file_name="metrics.csv", mime="text/csv", key="eval_metrics_csv")
    images.download_button("Per-image CSV", analysis.per_image_csv(results), file_name="per_image.csv",
                           mime="text/csv", key="eval_images_csv")
    everything.download_button("Everything (JSON)", analysis.results_json(results), file_name="evaluation.json",
                               mime="application/json", key="eval_json")


main()
