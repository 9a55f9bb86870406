"""Home: what the tool does in one sentence, the demo's picture and result above the fold, then the
chosen model's card as tables and prose, a glossary of the field's terms and links to every page."""

from __future__ import annotations

import dataclasses

import pandas as pd
import streamlit as st

from dashboard import common, views
from lwirst import card_view
from lwirst.consensus import describe as describe_consensus
from lwirst.consensus import flops_factor
from lwirst.frame_report import FrameReport
from lwirst.modelcard import ModelCard
from lwirst.postprocess import NO_FILTER
from lwirst.prominence import describe as describe_margin
from lwirst.rounding import count_text, flops_text, params_text
from lwirst.scoring import CARD, metric_specs


def main() -> None:
    st.title("lwirst: infrared small-target segmentation")
    intro()
    demo()
    model_card()
    glossary()
    page_links()


def intro() -> None:
    """What the tool does, in one sentence, naming the chosen model's network (not always LW-IRSTNet)."""
    card = common.card(common.engine())
    network = (f"**{card.architecture}**" + (f" ({card.reference})" if card.reference else "")
               if card.architecture else f"the ONNX model **{card.name}**")
    size = f", a {params_text(card.params)}-parameter network," if card.params else ""
    st.markdown(f"Finds small infrared targets (a few pixels wide) with {network}{size} and shows where it is "
                "right, where it misses and where it raises false alarms.")


DEMO_WIDTH = 400  # CSS pixels the demo frame's height is set for: its column is 330 wide at 1024 px, 460 at 1500


def demo() -> None:
    """The chosen model on a test frame with a target, run on arrival: the picture beside its result and target
    chips."""
    st.session_state.setdefault("home_demo_index", 0)
    shown = common.demo_frame(st.session_state["home_demo_index"])
    frame, where = shown.frame, shown.where
    if common.own_content(where.label):
        common.white_hot_note("The embedded samples are")
    report = common.analyse(common.engine(), frame, common.Postprocess(0.0, NO_FILTER))
    picture, result = st.columns([3, 2])
    drawn = report.truth if report.truth is not None else report.overlay
    # zoomable, each target ringed at a fixed screen size: a 3-pixel target in a thin box was lost on a projector
    picture.plotly_chart(views.legible(views.zoom_figure(drawn, "", marks=report.chips, axes=False, width=DEMO_WIDTH,
                                                          tags=True)),
                         key="home_picture", config=views.PLOT_CONFIG, width="stretch",
                         alt=views.picture_alt(f"{frame.name}, boxes coloured by outcome", report.chips))
    picture.caption(f"{frame.name} ({where.label}, {where.split} split): boxes coloured by outcome against the "
                    "ground truth, each target ringed in its colour and shape and tagged beside its ring. The link to "
                    "this page opens this frame." + (
                        f" The demo passed over {count_text(shown.passed_over, 'image')} before it "
                        "whose ground truth holds no target (Evaluate and Failures score them)."
                        if shown.passed_over else "") + (f" Scored against its {shown.mask_note}." if shown.mask_note
                                                         else ""))
    with result:
        demo_result(report)
        demo_actions(where, shown.index)
    st.caption(common.speed_info(common.engine()).frame_run(report.input.shape[:2], report.protocol))  # as it ran
    if where.label == common.SAMPLES_LABEL:
        st.info("This frame is synthetic: a scene of the SIRST-calibrated generator that the shipped model "
                "never saw (it trained on real SIRST frames and on other scenes of the same generator). "
                "A server configured with a dataset such as SIRST (LWIRST_DATA_DIR) demos on its real "
                "frames instead.")


def demo_result(report: FrameReport) -> None:
    """Ground-truth targets found, false alarms and IoU of the demo frame (its detections where it has no
    truth), the legend and the magnified targets. "Targets found" counts matched ground truth, as Evaluate's
    operator row does, never a false alarm."""
    # two cards per row: three in the narrow result column broke "Targets" in two at 1024 px
    (found, alarms), (iou, _) = st.columns(2), st.columns(2)
    m = report.scores
    if m is not None:
        found.metric("Targets found", f"{m.detected} of {m.targets}", help=card_view.help_for("Pd"))
        alarms.metric("False alarms", m.false_alarms,
                      help="Detections whose centroid lies within 3 pixels of no ground-truth target")
        iou.metric("IoU", views.number_text(m.iou, 2), help=card_view.help_for("mIoU"))
    else:
        found.metric("Detections", report.kept, help=card_view.help_for("threshold"))
    chips = [dataclasses.replace(chip, number=None) for chip in report.chips[:4]]  # the picture shows no #ids
    views.legend(marks=chips)
    views.chip_strip(chips, report.targets_total)


def demo_actions(where: common.DataChoice, index: int) -> None:
    """Another demo frame, or this frame in the Single frame page."""
    # one above the other: side by side, the narrow result column cut the labels short
    if st.button("Next demo frame", type="primary", key="home_demo"):
        st.session_state["home_demo_index"] = index + 1  # after the frame shown: the demo may have passed some over
        st.rerun()
    if st.button("Open in Single frame", icon=":material/zoom_in:", key="home_inspect",
                 help="Show this frame on the Single frame page"):
        common.show_in_single_frame(where, index)


def model_card() -> None:
    """The chosen model's card: a summary, test scores, training data and recipe, experiments."""
    chosen = common.engine()
    card = common.card(chosen)
    st.subheader(f"Model card: {card.name}")
    st.markdown(card_view.summary(card))
    size, cost, runs = st.columns(3)
    size.metric("Parameters", params_text(card.params) if card.params else "not available")
    cost.metric("FLOPs (256×256)", flops_text(card.flops) if card.flops else "not available",
                help=card_view.help_for("FLOPs"))
    ran = chosen.settings
    runs.metric("Runs here on", f"{chosen.backend}/{chosen.protocol}",
                help=f"{card_view.help_for(chosen.protocol)}\n\n"
                     f"Each frame runs with {describe_consensus(ran.confirm, ran.mirror)}"
                     + (f"; {describe_margin(ran.margin)}." if ran.margin else "."))
    if ran.confirm:  # under the card: in its value it cut the backend and protocol short
        runs.caption(f"with scale consensus {ran.confirm:g}× "
                     f"({flops_factor(ran.confirm):g}× the FLOPs per frame"
                     + (f", {flops_factor(ran.confirm, True):g}× for a large frame with the mirror check)"
                        if ran.mirror else ")"))
    test_scores(card)
    training(card)
    experiments(chosen)


def test_scores(card: ModelCard) -> None:
    """Test metrics per input protocol, with what they were measured on."""
    st.markdown("**Test scores of the model card** (on the card's test data, named below; not the demo frame)")
    table = card_view.test_table(card)
    if table.empty:
        st.caption("Not available: the model has no card with test metrics.")
        return
    number = st.column_config.NumberColumn  # every figure to its metric's decimals: 0.8570, not 0.857 beside 0.8735
    st.dataframe(table, hide_index=True, key="home_card_metrics",
                 column_config={spec.label: number(format=f"%.{spec.decimals}f") for spec in metric_specs(CARD)})
    st.caption(f"{card.test_protocol}. " + " ".join(f"{t}: {card_view.GLOSSARY[t]}" for t in ("Pd", "Fa"))
               + " The shipped model beside the published weights, scored in one run, is on Compare.")


def training(card: ModelCard) -> None:
    """Training data and recipe, as readable settings."""
    data, recipe = st.columns(2)
    with data:
        st.markdown("**Training data**")
        table = card_view.data_table(card)
        if table.empty:
            st.caption(card.training.weights or "Not available: no training metadata.")
        else:
            settings(table)
    with recipe:
        st.markdown("**Recipe**")
        table = card_view.recipe_table(card)
        if table.empty:
            st.caption("Not available: no training metadata.")
        else:
            settings(table)
    members = card_view.soup_table(card)
    if not members.empty:
        st.markdown("**Members** (the shipped weights are their weighted mean)")
        st.table(members.set_index("member run"))
        if losses := card_view.soup_losses(card):  # cards before round 43 record none
            st.caption("Losses: " + "; ".join(f"`{spec}` = {words}" for spec, words in losses.items()))


def settings(table: pd.DataFrame) -> None:
    """A settings list as a static table: its text wraps (a grid in a half-width column cut names and
    values short) and every row shows."""
    st.table(table.set_index("setting"))


def experiments(chosen: common.Engine) -> None:
    """How the shipped recipe was arrived at: the card's experiments."""
    table = card_view.experiments_table(common.model_path(chosen))
    if table.empty:
        return
    trained = int((table["epochs"] != "0").sum())
    untrained = f", {len(table) - trained} rounds that changed no weight" if trained < len(table) else ""
    with st.expander(f"How the recipe was found ({trained} experiments that trained{untrained})"):
        st.caption("Each row's figures come from that round's own run, on the suites as they were then: figures "
                   "of different rounds are no one comparison.")
        st.dataframe(table, hide_index=True, key="home_card_experiments")


def glossary() -> None:
    """The field's terms, in one place (each page shows them on hover too)."""
    with st.expander("Glossary"):
        st.markdown("\n".join(f"- **{term}**: {text}" for term, text in card_view.glossary().items()))


def page_links() -> None:
    """Links to every page of the app."""
    st.subheader("Pages")
    for spec in common.available_pages():
        st.page_link(spec.path, label=f"{spec.title}: {spec.about}", icon=spec.icon)


main()
