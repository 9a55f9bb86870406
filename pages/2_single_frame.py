"""Single frame: segment one IR image; threshold and Eq. 4 filters update without re-running the network."""

from __future__ import annotations

import streamlit as st

from dashboard import common
from lwirst.errors import LwirstError
from lwirst.frame_report import FrameReport


def main() -> None:
    st.title("Single frame")
    post = common.postprocess_controls()
    scale = heatmap_scale()
    frame = choose_frame()
    if frame is None:
        return
    report = common.analyse(common.engine(), frame, post, scale)
    counts(report)
    pictures(report, scale)
    ground_truth(report)
    target_table(report, frame.name)


def heatmap_scale() -> str:
    """Sidebar: show the saliency map as probability or logit."""
    st.session_state.setdefault("heat_scale", "probability")
    return st.sidebar.radio("Heatmap scale", ["probability", "logit"], key="heat_scale", horizontal=True)


def choose_frame() -> common.Frame | None:
    """The image: an upload, or an image of the sidebar's dataset (embedded samples by default)."""
    source = st.radio("Image", ["Sample or dataset image", "Upload"], horizontal=True, key="frame_source")
    if source == "Upload":
        return uploaded_frame()
    return dataset_frame()


def uploaded_frame() -> common.Frame | None:
    """An uploaded PNG/JPG/BMP/TIFF (8- or 16-bit, grey or colour); bad files get a readable error."""
    limit = common.settings().max_upload_mb
    upload = st.file_uploader("IR image", type=list(common.IMAGE_TYPES), key="image_upload",
                              max_upload_size=limit, help=f"At most {limit} MB")
    if upload is None:
        st.info("Upload an infrared image, or pick a sample or dataset image above.")
        return None
    try:
        return common.make_frame(upload.name, common.decode(upload.getvalue(), upload.name))
    except LwirstError as exc:
        common.show_error(exc)
        return None


def dataset_frame() -> common.Frame | None:
    """An image of the dataset chosen in the sidebar, with its ground-truth mask."""
    choice = common.data_source()
    if choice is None:
        return None
    dataset = common.open_data(choice)
    index = st.selectbox(f"Image of {choice.label} ({choice.split}, {len(dataset)} images)",
                         range(len(dataset)), format_func=lambda i: dataset.names[i], key="dataset_image")
    sample = common.load_item(choice, index)
    return common.make_frame(sample.name, sample.image, sample.mask)


def counts(report: FrameReport) -> None:
    """How many targets the threshold found and the filter kept."""
    kept, found, removed = st.columns(3)
    kept.metric("Targets kept", report.kept)
    found.metric("Above threshold", report.found)
    removed.metric("Removed by Eq. 4 filter", report.found - report.kept)


def pictures(report: FrameReport, scale: str) -> None:
    """Input, saliency heatmap with colour bar, and the kept targets side by side."""
    source, heat, kept = st.columns(3)
    source.image(report.input, channels="BGR", caption="input")
    heat.image(report.heatmap, channels="BGR", caption=f"saliency ({scale})")
    kept.image(report.overlay, channels="BGR", caption="kept targets (boxes + ids)")


def ground_truth(report: FrameReport) -> None:
    """With a mask: correct detections, misses and false alarms, and the per-image metrics."""
    if report.truth is None:
        return
    st.subheader("Against the ground truth")
    picture, numbers = st.columns([1, 2])
    picture.image(report.truth, channels="BGR", caption="red: correct, green: missed, blue: false alarm")
    columns = numbers.columns(3)
    for i, (name, value) in enumerate(report.metrics.items()):
        columns[i % 3].metric(name, f"{value:.3f}" if isinstance(value, float) else value)


def target_table(report: FrameReport, name: str) -> None:
    """The kept targets (id, centroid, box, size, ratio, peak) with a CSV download."""
    st.subheader("Targets")
    st.dataframe(report.targets, hide_index=True)
    st.download_button("Download CSV", report.csv(), file_name=f"{name}_targets.csv", mime="text/csv",
                       key="targets_csv")


common.run_page(main)
