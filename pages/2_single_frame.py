"""Single frame: segment one IR image; threshold and Eq. 4 filters update without re-running the network."""

from __future__ import annotations

from pathlib import PurePath

import streamlit as st

from dashboard import common, urlstate, views
from lwirst import card_view, palette
from lwirst.errors import LwirstError
from lwirst.frame_report import FrameReport
from lwirst.imageio import repaired_text, several_pages
from lwirst.inference import shrink_note
from lwirst.polarity import WHITE_HOT
from lwirst.postprocess import HOT_MARGIN, peak_text
from lwirst.prominence import held_note
from lwirst.rounding import span_text


def main() -> None:
    st.title("Single frame")
    post = common.postprocess_controls()
    scale = common.heat_scale()
    frame = choose_frame()
    if frame is None:
        return
    report = common.analyse(common.engine(), frame, post, scale)
    counts(report)
    how_it_ran(report)
    views.legend(OUTCOMES if report.truth is not None else (palette.DETECTION,), report.chips)  # no truth: detections
    chips(report)
    pictures(report, scale)
    ground_truth(report)
    target_table(report, frame.name)


OUTCOMES = (palette.CORRECT, palette.MISSED, palette.FALSE_ALARM, palette.HOT)


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
        name = common.upload_name(upload)
        frame = common.make_frame(name, common.decode(upload, name))
        if several_pages(upload.getvalue(), name):  # as `lwirst segment` says it
            st.caption("A TIFF of several pages: its first is segmented here. The Video page plays every page as a "
                       "frame.")
        return frame
    except LwirstError as exc:
        common.show_error(exc)
        return None


def dataset_frame() -> common.Frame | None:
    """An image of the dataset chosen in the sidebar, with its ground-truth mask."""
    choice = common.data_source()
    if choice is None:
        return None
    if common.own_content(choice.label):
        common.white_hot_note("The embedded samples are")
    dataset = common.open_data(choice)
    # the picker holds a position: on other data (the sidebar changed, a URL of other data) it starts again
    # at the first image, not at the same position under the old image's name
    shown_of = st.session_state.get(common.IMAGE_OF_KEY, choice)
    if shown_of != choice:
        urlstate.forget("dataset_image")  # a link's position meant the data it came with
    if shown_of != choice or st.session_state.get("dataset_image") not in range(len(dataset)):
        st.session_state.pop("dataset_image", None)
    st.session_state[common.IMAGE_OF_KEY] = choice
    index = st.selectbox(f"Image of {choice.label} ({choice.split}, {len(dataset)} images)",
                         range(len(dataset)), format_func=lambda i: dataset.names[i], key="dataset_image")
    notice = urlstate.unavailable("dataset_image", range(len(dataset)), lambda i: repr(dataset.names[i]),
                                  f"{choice.label} ({choice.split}, {len(dataset)} images)")
    if notice:
        st.warning(notice, icon=":material/link_off:")
    try:
        sample = common.load_item(choice, index)
    except LwirstError as exc:  # the frame without its ground truth: segmented, not scored
        image = common.load_image(choice, index)
        st.warning(f"No usable ground truth for this image ({common.visitor_text(exc)}): it is segmented, "
                   "not scored.",
                   icon=":material/help:")
        return common.make_frame(dataset.names[index], image)
    if note := sample.mask_note():  # a mask annotated on a rescaled copy: what the scores read against
        st.caption(f"Scored against its {note}.")
    return common.make_frame(sample.name, sample.image, sample.mask)


def counts(report: FrameReport) -> None:
    """How many targets the threshold found and the filter kept."""
    kept, found, removed = st.columns(3)
    kept.metric("Targets kept", report.kept)
    found.metric("Above threshold", report.found)
    removed.metric("Removed by the size / ratio filter", report.found - report.kept, help=card_view.help_for("Eq. 4"))


def how_it_ran(report: FrameReport) -> None:
    """The protocol this frame actually ran with (resized to the model size, native or a pyramid) and on what,
    how its colours were read, and where nothing was found the settings that may be why (a large frame resized,
    the polarity), beside it (below the panels it was out of sight)."""
    info = common.speed_info(common.engine())
    st.caption(info.frame_run(report.input.shape[:2], report.protocol))
    shrunk = shrink_note(report.input.shape[:2], report.protocol, info.size)
    # a peak just under the threshold is the threshold's doing: the settings a newcomer's frames may need are named
    # where the network saw nothing near it
    far = not report.found and report.threshold - report.peak > HOT_MARGIN
    if not report.found:
        st.caption(f"Nothing rose above the threshold: {peak_text(report.peak, report.threshold)}."
                   + (f" This frame ran {shrunk}. Protocol auto or native under the sidebar's \"How frames run\" runs "
                      "it at its own size." if shrunk else ""))
    if far and common.chosen_polarity() == WHITE_HOT:
        st.caption(f"{'Or, i' if shrunk else 'I'}f the camera shows hot targets dark (black-hot), set Sensor polarity "
                   "to black-hot under the sidebar's \"How frames run\".")
    if report.stretched is not None:  # what 0..255 of the picture and the network's input stand for
        low, high, kind = report.stretched
        zones = common.chosen_zones()
        st.caption(f"A frame of {kind} values: shown, and read by the network, stretched to 8 bits over its own "
                   f"range, {span_text(low, high)} (hot and dead pixels{', and the ignore zones,' if zones else ''} "
                   "set no range).")
        if said := repaired_text(report.repaired):  # a saturated one- or two-pixel target is replaced too
            st.caption(f"{said[0].upper()}{said[1:]}.")
        if far and not zones:  # a camera's burnt-in text at full scale takes the whole range
            st.caption("Or, where burnt-in text, a logo or a reticle sets that range, mark it under the sidebar's "
                       "Ignore regions: it then sets no range, and the scene keeps its contrast.")
    if report.palette:
        st.caption(f"The input is drawn with the {report.palette!r} pseudo-colour palette: the network ran on the "
                   "intensity it encodes (`lwirst.palettes`).")
    elif report.as_colour:
        st.warning("This frame is in colour, and no pseudo-colour palette the decoder knows drew it "
                   "(`lwirst.palettes`), so the network ran on its colours. It learnt grey frames: targets may "
                   "be missed. A thermal palette it does not know is best converted to grey intensity before "
                   "the upload.", icon=":material/palette:")


def chips(report: FrameReport) -> None:
    """Every detection and ground-truth target magnified, with its heatmap crop, worst first."""
    views.chip_strip(report.chips, report.targets_total, truth=report.truth is not None)


def pictures(report: FrameReport, scale: str) -> None:
    """Kept targets and saliency heatmap, then input and ground truth: large, zoomable, two per row."""
    kept = ("kept targets, coloured by outcome" if report.truth is not None
            else "kept targets (no ground truth: every box is a detection)")
    marks = report.chips
    shown = [views.Panel(report.overlay, kept, marks=marks, tags=True),
             views.Panel(report.heatmap, f"saliency ({scale}{held_note(report.clearance)})", report.heat, marks),
             views.Panel(report.input, "input", marks=marks)]
    if report.truth is not None:
        shown.append(views.Panel(report.truth, "against the ground truth: correct, missed, false alarm", marks=marks,
                                 tags=True))
    views.panels(shown, "frame_panel")
    st.caption("Drag a box to zoom, scroll to zoom, double-click to reset.")


def ground_truth(report: FrameReport) -> None:
    """With a mask: the per-image scores, the metric table's plugins' too."""
    if report.scores is None:
        return
    st.subheader("Against the ground truth")
    columns = st.columns(6)
    for i, (name, value) in enumerate(report.scores.cards()):
        columns[i % 6].metric(name, views.number_text(value, 3))


def target_table(report: FrameReport, name: str) -> None:
    """The kept targets (id, outcome, centroid, box, size, ratio, peak) with a CSV download."""
    st.subheader("Targets")
    st.dataframe(views.outcome_table(report.table), hide_index=True, key="targets_table",
                 column_config=views.target_columns())
    st.download_button("Download CSV", report.csv(), file_name=f"{PurePath(name).stem}_targets.csv", mime="text/csv",
                       key="targets_csv")


main()
