"""The sidebar: every what-if input, gathered into one frozen ``WhatIf`` (layout only, no computation).

Uploaded files are validated by the same loaders as the CLI (``spotplan.dashboard.data``); a bad file shows the
CLI's one-line message and the page keeps the last valid inputs out of the plan.
"""

from __future__ import annotations

import streamlit as st

from spotplan.advisor.savecost import DEFAULT_PERSIST_BYTES_PER_S
from spotplan.advisor.sizing import DEFAULT_MFU
from spotplan.dashboard import data
from spotplan.dashboard.inputs import DEFAULT_RUNS, RUN_CHOICES, Upload, WhatIf
from spotplan.errors import SpotplanError

MODEL_SIZES = ("125M", "1.3B", "7B", "13B", "70B")


def _upload(key: str, label: str, types: list[str], help_text: str) -> Upload | None:
    f = st.file_uploader(label, type=types, key=key, help=help_text)
    return None if f is None else Upload(name=f.name, content=f.getvalue())


def _job() -> dict[str, object]:
    st.subheader("Job")
    size = st.selectbox("Model size", MODEL_SIZES, index=MODEL_SIZES.index("7B"), key="model_size")
    mode = st.radio("Mode", ("full", "lora"), horizontal=True, key="mode")
    tokens_b = st.number_input("Training tokens (billions; 0 = the advisor's default)", min_value=0.0,
                               value=0.0, step=1.0, key="tokens_b")
    deadline_h = st.number_input("Deadline (hours; 0 = none)", min_value=0.0, value=0.0, step=12.0,
                                 key="deadline_h")
    return {"model_size": size, "mode": mode, "tokens": int(tokens_b * 1e9) or None,
            "deadline_h": float(deadline_h) or None}


def _where() -> dict[str, object]:
    st.subheader("Where")
    regions, families = data.catalog_choices()
    chosen_regions = st.multiselect("Regions (empty = all)", regions, key="regions")
    chosen_families = st.multiselect("Instance families (empty = all)", families, key="families")
    return {"regions": tuple(chosen_regions), "families": tuple(chosen_families)}


def _speed() -> tuple[dict[str, object], Upload | None]:
    st.subheader("Speed and checkpoint cost")
    calibration = _upload("calibration_file", "Calibration file (spotplan calibrate)", ["yaml", "yml", "json"],
                          "Measured save/restore costs; replaces the save bandwidth below.")
    mfu = st.slider("MFU", min_value=0.10, max_value=0.70, value=DEFAULT_MFU, step=0.05, key="mfu")
    bw = st.number_input("Checkpoint write bandwidth per node (GB/s)", min_value=0.05,
                         value=DEFAULT_PERSIST_BYTES_PER_S / 1e9, step=0.25, key="save_bw_gb_s",
                         disabled=calibration is not None)
    return {"mfu": float(mfu), "save_bandwidth_bytes_per_s": float(bw) * 1e9}, calibration


def _what_ifs() -> dict[str, object]:
    st.subheader("What if")
    rate_x = st.slider("Interruption-rate multiplier", min_value=0.25, max_value=8.0, value=1.0, step=0.25,
                       key="interruption_multiplier")
    price_x = st.slider("Spot price multiplier", min_value=0.5, max_value=3.0, value=1.0, step=0.05,
                        key="price_multiplier")
    notice_s = st.slider("Interruption notice (s; AWS 120, GCP and Azure 30)", min_value=10, max_value=300, value=120,
                         step=10, key="notice_s")
    auto = st.radio("Checkpoint interval", ("auto", "manual"), horizontal=True, key="interval_mode") == "auto"
    interval_min = st.slider("Manual interval (min of compute)", min_value=1, max_value=240, value=30,
                             key="interval_min", disabled=auto)
    return {"interruption_multiplier": float(rate_x), "price_multiplier": float(price_x),
            "notice_s": float(notice_s), "interval_s": None if auto else float(interval_min) * 60.0}


def _traces(errors: list[str]) -> dict[str, object]:
    """Availability traces (and their per-tick prices) the plan replays; a file the loaders reject is left out."""
    st.subheader("Availability traces")
    files = st.file_uploader("Traces: Can't Be Late JSON or timestamped CSV (<zone>_<accel>.json|csv)",
                             type=["json", "csv"], accept_multiple_files=True, key="trace_files",
                             help="Spot rungs replay these traces (as spotplan recommend --traces); the regret "
                                  "block in 'Simulated run' measures the plan against the offline optimum on them.")
    tick = _upload("tick_prices_file", "Per-tick spot prices of the traces (JSON {trace stem: [USD/h, ...]})",
                   ["json"], "As spotplan recommend --tick-prices, e.g. SkyNomad's v100_spot_prices.json.")
    traces = tuple(Upload(name=f.name, content=f.getvalue()) for f in files or [])
    if tick is not None and not traces:
        errors.append(f"spotplan: error: {tick.name}: per-tick prices price the availability traces; upload the "
                      "traces as well")
        return {"traces": (), "tick_prices": None}
    if traces:
        try:
            data.validate_traces(traces, tick)
        except SpotplanError as exc:
            errors.append(f"spotplan: error: {exc}")
            return {"traces": (), "tick_prices": None}
    return {"traces": traces, "tick_prices": tick}


def _simulation() -> dict[str, object]:
    st.subheader("Simulation")
    runs = st.select_slider("Monte Carlo runs", RUN_CHOICES, value=DEFAULT_RUNS, key="runs")
    seed = st.number_input("Seed", min_value=0, value=0, step=1, key="seed")
    return {"runs": int(runs), "seed": int(seed)}


def render() -> tuple[WhatIf, Upload | None, list[str]]:
    """Draw the sidebar; return the inputs, the valid price upload (if any) and one line per rejected file.

    A rejected file is left out (the embedded data stays in use) and its CLI-style error is returned so the
    page can show it where the user is looking.
    """
    errors: list[str] = []
    with st.sidebar:
        st.header("spotplan what-if")
        fields = {**_job(), **_where()}
        speed, calibration = _speed()
        fields.update(speed)
        fields.update(_what_ifs())
        fields.update(_simulation())
        st.subheader("Spot price history")
        prices = _upload("price_file", "describe-spot-price-history JSON", ["json"],
                         "Output of `aws ec2 describe-spot-price-history`; replaces the embedded prices.")
        fields.update(_traces(errors))
        fields["calibration_json"] = None
        if calibration is not None:
            try:
                fields["calibration_json"] = data.validate_calibration(calibration)
            except SpotplanError as exc:
                errors.append(f"spotplan: error: {exc}")
        if prices is not None:
            try:
                data.validate_prices(prices)
            except SpotplanError as exc:
                errors.append(f"spotplan: error: {exc}")
                prices = None
        for line in errors:
            st.error(line)
    return WhatIf(**fields), prices, errors  # type: ignore[arg-type]
