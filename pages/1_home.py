"""Home: what the tool does, the chosen model's card, a one-click demo and links to every page."""

from __future__ import annotations

import streamlit as st

from dashboard import common
from lwirst.modelcard import card_table, metrics_table
from lwirst.postprocess import NO_FILTER


def main() -> None:
    st.title("LW-IRSTNet: infrared small-target segmentation")
    intro()
    model_card()
    demo()
    page_links()


def intro() -> None:
    """What the tool does, in two sentences."""
    st.markdown(
        "This dashboard runs **LW-IRSTNet** (Kou et al., TGRS 2023), a 0.16 M-parameter network that "
        "segments small infrared targets, then turns its saliency map into targets with the paper's "
        "post-processing: a threshold, 8-connected clustering and the size/aspect-ratio filter of Eq. 4. "
        "Try it on single images, videos and live streams, with the embedded synthetic samples or a "
        "dataset such as SIRST on the server."
    )


def model_card() -> None:
    """The chosen model's card: size, cost, test metrics and how it was trained."""
    chosen = common.engine()
    card = common.card(chosen)
    st.subheader(f"Model: {card.name}")
    left, middle, right = st.columns(3)
    left.metric("Parameters", f"{card.params / 1e6:.3f} M" if card.params else "not available")
    middle.metric("FLOPs (256×256)", f"{card.flops / 1e6:.1f} M" if card.flops else "not available")
    right.metric("Runs on", f"{chosen.backend} / {chosen.protocol}")
    metrics, training = st.columns(2)
    with metrics:
        st.markdown("**Test metrics**")
        if card.test_metrics:
            st.dataframe(metrics_table(card.test_metrics), hide_index=True)
            st.caption(card.test_protocol)
        else:
            st.caption("Not available: the model has no card JSON with test metrics.")
    with training:
        st.markdown("**How it was trained**")
        if card.training:
            st.dataframe(card_table(card.training), hide_index=True)
        else:
            st.caption("Not available: the checkpoint carries no training metadata.")
    if card.markdown:
        with st.expander("Full model card"):
            st.markdown(card.markdown)


def demo() -> None:
    """One click: the chosen model on an embedded sample frame."""
    st.subheader("Try it")
    if st.button("Run the demo on a sample frame", type="primary", key="home_demo"):
        st.session_state["home_demo_done"] = True
    if not st.session_state.get("home_demo_done"):
        st.caption("Segments a test image of the server's first dataset (the embedded synthetic scenes when "
                   "none is configured) with the paper's threshold (0) and no filter.")
        return
    frame, source = common.demo_frame()
    report = common.analyse(common.engine(), frame, common.Postprocess(0.0, NO_FILTER))
    st.metric("Targets found", report.kept)
    picture, heat, truth = st.columns(3)
    picture.image(report.overlay, channels="BGR", caption=f"{frame.name}: kept targets")
    heat.image(report.heatmap, channels="BGR", caption="saliency (probability)")
    if report.truth is not None:
        truth.image(report.truth, channels="BGR",
                    caption="red: correct, green: missed, blue: false alarm")
    if source == common.SAMPLES_LABEL:
        st.info("This frame is synthetic. The shipped model learnt from real SIRST frames only, and "
                "the synthetic scenes' targets and clutter are outside what it has seen, so expect "
                "misses and false alarms here. A server configured with a dataset such as SIRST "
                "(LWIRST_DATA_DIR) demos on its real frames instead.")


def page_links() -> None:
    """Links to every page of the app."""
    st.subheader("Pages")
    for spec in common.available_pages():
        st.page_link(spec.path, label=f"{spec.title}: {spec.about}", icon=spec.icon)


common.run_page(main)
