"""Failure inspector: where a model misses. The images of an evaluation filtered by outcome (missed, false alarm,
hot but below threshold) and IoU, ranked (IoU, misses, false alarms by count or pixels), shown as a gallery of
thumbnails; the top of the ranking, the thumbnail clicked, or the row picked in Evaluate's per-image table is
inspected: target chips, zoomable overlay, heatmap, input and ground truth, with the Fig. 6 case flagged. The
threshold and Eq. 4 filter re-score everything live, without the network."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import analysis as dash
from dashboard import common, views
from lwirst import analysis
from lwirst.postprocess import describe_threshold


def main() -> None:
    st.title("Failure inspector")
    asked = arrival()
    post = common.postprocess_controls()
    scale = common.heat_scale()
    margin = dash.hot_margin()
    run = choose_run(asked)
    if run is None:
        return
    metrics, per_image = dash.rescored(run, post.threshold, post.target_filter, margin)
    live_metrics(run, metrics, margin)
    views.legend()
    shown = filtered_images(per_image)
    ranked = ranked_images(shown)
    if ranked.empty:
        st.info("No image of this run matches the filters above.")
        return
    gallery(run, ranked, post, margin)
    name = choose_image(ranked)
    inspect(run, name, post, scale, margin)


def arrival() -> tuple[dash.Run, str] | None:
    """A row picked in Evaluate's table, as (its run, image), else None (also where that run is gone from the
    session). Before the sidebar is drawn, its threshold becomes the run's (Evaluate has a threshold of its own), so
    the image shows as the row scored it; said."""
    asked = dash.asked_to_inspect()
    run = dash.session_runs().get(asked[0]) if asked is not None else None
    if run is None:
        return None
    if run.threshold != st.session_state.get("threshold", 0.0):
        st.session_state["threshold"] = run.threshold
        st.info(f"Opened from Evaluate's table: the sidebar's threshold is now that run's, "
                f"{describe_threshold(run.threshold)}.", icon=":material/tune:")
    return run, asked[1]


def choose_run(asked: tuple[dash.Run, str] | None) -> dash.Run | None:
    """The evaluation to inspect: this session's runs and those cached on disk for the sidebar's data,
    the sidebar model's run nearest the sidebar threshold first; with none of the sidebar's model and settings
    for the sidebar's data, that model is evaluated there first (another's run was inspected without a word), unless
    a row of Evaluate's table was `asked` for: its run is listed."""
    choice = common.data_source()
    if choice is None:
        return None
    if common.own_content(choice.label):
        common.white_hot_note("The embedded samples are")
    on_disk, session = dash.disk_runs(choice), session_runs(choice)
    listed = [*session.values(), *(row for _, row in on_disk.iterrows())]
    if asked is None and not any(map(dash.engine_run(common.engine()), listed)) and evaluate_now(
            choice, others=bool(listed)):
        for key in ("failure_run", "failure_image"):  # the picker opens on the run just evaluated, at its top
            st.session_state.pop(key, None)
        session = session_runs(choice)  # with the run just evaluated
    runs = dash.run_choices(session, on_disk, common.engine(), float(st.session_state.get("threshold", 0.0)))
    if not runs:
        return None
    if asked is not None:
        open_asked(runs, *asked)
    common.select_default("failure_run", list(runs))
    label = st.selectbox(f"Evaluation run on {choice.name}", list(runs), key="failure_run",
                         help="Runs of this session and runs cached on disk for the sidebar's dataset and "
                              "split; the sidebar model's run nearest the sidebar threshold comes first")
    chosen = runs[label]
    return chosen if isinstance(chosen, dash.Run) else dash.open_disk_run(chosen, choice)


def open_asked(runs: dict[str, dash.Run | pd.Series], run: dash.Run, image: str) -> None:
    """Open `run` (a session run, listed as itself) on `image`, as a row of Evaluate's table asked, with every image
    shown (the outcome and IoU filters cleared: they could hide it)."""
    label = next((label for label, item in runs.items() if item is run), None)
    if label is None:  # a run of other data than the sidebar's: the picker's default
        return
    st.session_state.update({"failure_run": label, "failure_image": image})
    for widget in ("failure_outcomes", "failure_iou"):
        st.session_state.pop(widget, None)


def session_runs(choice: common.DataChoice) -> dict[str, dash.Run]:
    """This session's runs on the sidebar's data only."""
    return {key: run for key, run in dash.session_runs().items() if run.choice == choice}


def evaluate_now(choice: common.DataChoice, others: bool) -> bool:
    """No run of the sidebar's model and settings on the sidebar's data: evaluate it there (at once on small
    datasets, else on a click); the run joins this session's, and True says it ran. `others`: runs of other
    models or settings are there to pick meanwhile."""
    engine = common.engine()
    label = f"{st.session_state.get('model', 'model')} · {engine.runs_on}"
    if not dash.scored_unasked(choice) and not st.button(
            f"Evaluate {label} on {choice.name}, {len(common.open_data(choice))} images", type="primary",
            key="failure_evaluate"):
        st.info(f"The sidebar's model and settings ({label}) have no evaluation of {choice.name} yet: the runs "
                "below are of other models or settings. Run it here or on the Evaluate page." if others else
                f"No evaluation of {choice.name} yet: run one here or on the Evaluate page.")
        return False
    bar = st.progress(0.0, text=f"{label}: starting...")
    try:
        dash.evaluate_run(label, engine, choice, 0.0, bar)
    finally:
        bar.empty()
    return True


def live_metrics(run: dash.Run, metrics: dict[str, float], margin: float) -> None:
    """The whole run re-scored at the sidebar's threshold and filter, against the evaluation's own setting."""
    scored = run.result.protocol.target_filter  # the filter the evaluation scored through (Evaluate's, or none)
    baseline, _ = dash.rescored(run, run.threshold, scored, margin)  # at the run's own setting: the same pass
    st.caption(f"Whole run ({analysis.sample_note(run.result.metrics)}) at the sidebar's threshold and size / "
               f"ratio filter (Eq. 4); the change is against the evaluation (threshold "
               f"{describe_threshold(run.threshold)}, {'filter ' + str(scored) if scored.active else 'no filter'})."
               " The network does not run again.")
    moves = analysis.metric_moves(baseline, metrics)
    # three to a row: six in one cut each change and its "better" / "worse" to "+0.014…" at 1024 px
    for start in range(0, len(moves), METRICS_PER_ROW):
        row = moves[start:start + METRICS_PER_ROW]
        for column, move in zip(st.columns(METRICS_PER_ROW), row, strict=False):
            views.metric_change(column, move.label, move.value, move.key, move.change, move.delta)


def filtered_images(per_image: pd.DataFrame) -> pd.DataFrame:
    """Filters: images with a target of the chosen outcomes, and an IoU range."""
    outcomes, iou = st.columns([2, 1])
    chosen = outcomes.pills("Show images with", list(analysis.OUTCOME_COLUMNS), selection_mode="multi",
                            key="failure_outcomes", help="None chosen: every image")
    low, high = iou.slider("IoU range", 0.0, 1.0, (0.0, 1.0), step=0.01, key="failure_iou")
    shown = analysis.filter_images(per_image, chosen or [], (low, high))
    st.caption(f"{len(shown)} of {len(per_image)} images match.")
    return shown


def _new_ranking() -> None:
    """A new ranking inspects its top image."""
    st.session_state.pop("failure_image", None)


def ranked_images(per_image: pd.DataFrame) -> pd.DataFrame:
    """The images ranked by IoU, missed targets, the smallest missed target, false alarms (count or pixels),
    hot-but-below targets or a metric plugin's card metric."""
    ranks = list(analysis.rankings())
    common.select_default("failure_rank", ranks)  # e.g. from a link made by another version
    by = st.radio("Rank images by", ranks, key="failure_rank", horizontal=True,
                  on_change=_new_ranking)
    ranked = analysis.rank_images(per_image, by)
    shown = views.image_table(ranked.assign(smallest_missed=views.as_text(ranked["smallest_missed"], 0)))  # —: none
    st.dataframe(shown, hide_index=True, height=240 if len(shown) > 5 else "auto",  # no empty rows under a few
                 key="failure_table", column_config=views.image_columns(), column_order=views.image_order(shown))
    return ranked


GALLERY = 8  # thumbnails in the gallery (the top of the ranking)
METRICS_PER_ROW = 3  # metric cards of the whole run, each with its change against the evaluation
TILE_WIDTH = 260  # CSS pixels of a gallery tile, in a row that wraps: two per row at 1024 px, three at 1440


def gallery(run: dash.Run, ranked: pd.DataFrame, post: common.Postprocess, margin: float) -> None:
    """The top of the ranking as thumbnails (Fig. 5 overlays, re-scored live); a click inspects one."""
    st.markdown(f"**Gallery**: the first {min(GALLERY, len(ranked))} of the ranking; *Inspect* opens one below.")
    row_of_tiles = st.container(horizontal=True, gap="small")
    for i, row in enumerate(ranked.head(GALLERY).itertuples(index=False)):
        tile = row_of_tiles.container(width=TILE_WIDTH)
        caption = f"{i + 1}. {row.name}: IoU {views.number_text(row.iou, 2)}, miss {row.missed}, FA {row.false_alarms}"
        tile.image(dash.thumbnail(run, row.name, post.threshold, post.target_filter, margin), channels="BGR",
                   caption=caption, width="stretch", alt=caption)
        if tile.button("Inspect", key=f"failure_pick_{i}"):
            st.session_state["failure_image"] = row.name


def choose_image(ranked: pd.DataFrame) -> str:
    """One image of the ranking (the top one unless another was picked)."""
    rows = {row.name: row for row in ranked.itertuples(index=False)}
    common.select_default("failure_image", list(rows))
    return st.selectbox("Image", list(rows), key="failure_image", format_func=lambda n: (
        f"{n}: IoU {views.number_text(rows[n].iou, 3)}, missed {rows[n].missed}, false alarms {rows[n].false_alarms}"
        + (f", hot but below {rows[n].hot_misses}" if rows[n].hot_misses else "")))


def inspect(run: dash.Run, name: str, post: common.Postprocess, scale: str, margin: float) -> None:
    """Input, ground truth, heatmap and Fig. 5 overlay of one image, and its missed targets' peaks."""
    names = common.open_data(run.choice).names
    sample = common.load_item(run.choice, names.index(name))
    view = analysis.image_view(sample.image, run.result.saliency[name], sample.mask, post.threshold,
                               post.target_filter, scale, margin)
    views.chip_strip(view.chips, view.targets_total)
    heat_title = f"saliency ({scale}); hot but below threshold boxed"
    views.panels([views.Panel(view.overlay, f"{name}: correct, missed, false alarm", marks=view.chips, tags=True),
                  views.Panel(view.heatmap, heat_title, view.heat, view.chips),
                  views.Panel(view.input, "input", marks=view.chips),
                  views.Panel(view.truth[:, :, None].repeat(3, axis=2), "ground truth", marks=view.chips)],
                 "failure_panel")
    if applied := analysis.image_protocol(run.result, name):  # as Single frame says it of its frame
        st.caption(common.run_info(run.result.protocol.run).frame_run(sample.image.shape[:2], applied,
                                                                         which="In this evaluation this"))
    hot_flags(view.hot, post.threshold)


def hot_flags(hot: pd.DataFrame, threshold: float) -> None:
    """Missed targets with their peak saliency: the Fig. 6 case (hot, yet under the threshold) flagged."""
    flagged = hot[hot["status"] == analysis.HOT]
    for row in flagged.itertuples(index=False):
        st.warning(f"Ground-truth target GT{row.truth_id} at ({row.x:.0f}, {row.y:.0f}) is hot but below the "
                   f"threshold: peak logit "
                   f"{row.peak_logit:.2f} (probability {row.peak_prob:.3f}) is {row.under_by:.2f} under "
                   f"{threshold:g}.", icon=":material/local_fire_department:")
    if not hot.empty:
        st.dataframe(hot, hide_index=True, key="failure_hot", column_config=views.target_columns())
    else:
        st.caption("No missed targets in this image at this threshold and filter.")


main()
