"""TensorBoard's HParams records, built from TensorBoard's own protos (no torch, no TensorFlow): a run's
session (its settings when it starts, its status when it ends) and a sweep's experiment (which
columns the HParams tab shows, in which order).

TensorBoard keeps the first record of each kind a run holds, so a session's end is written once,
when the run ends, and not at all when it is stopped to be continued.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from tensorboard.backend.event_processing.event_file_loader import EventFileLoader  # type: ignore[import-untyped]
from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata  # type: ignore[import-untyped]
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2  # type: ignore[import-untyped]

Setting = bool | int | float | str

# How a run ended (metrics.json's status, or the exception) -> the session status TensorBoard knows:
# it has no "diverged"; that is a failure to train.
SUCCESS, FAILURE = api_pb2.STATUS_SUCCESS, api_pb2.STATUS_FAILURE
ENDED = {"completed": SUCCESS, "fast_dev_run": SUCCESS, "diverged": FAILURE, "failed": FAILURE}


def _record(tag: str, data: plugin_data_pb2.HParamsPluginData) -> Summary:
    data.version = metadata.PLUGIN_DATA_VERSION
    plugin = SummaryMetadata.PluginData(plugin_name=metadata.PLUGIN_NAME, content=data.SerializeToString())
    return Summary(value=[Summary.Value(tag=tag, metadata=SummaryMetadata(plugin_data=plugin))])


def session_start(hparams: Mapping[str, Setting]) -> Summary:
    start = plugin_data_pb2.SessionStartInfo()
    for name, value in hparams.items():
        if isinstance(value, bool):
            start.hparams[name].bool_value = value
        elif isinstance(value, int | float):
            start.hparams[name].number_value = value
        else:
            start.hparams[name].string_value = str(value)
    return _record(metadata.SESSION_START_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_start_info=start))


def session_end(status: str) -> Summary:
    """`status`: a key of `ENDED`."""
    end = plugin_data_pb2.SessionEndInfo(status=ENDED[status])
    return _record(metadata.SESSION_END_INFO_TAG, plugin_data_pb2.HParamsPluginData(session_end_info=end))


def experiment(settings: Mapping[str, Sequence[Setting]], varied: Iterable[str], metric_tags: Iterable[str]) -> Summary:
    """The HParams tab's columns: each setting with the values the runs have, those `varied` marked as
    differing (TensorBoard sorts those first, then by name, and ticks the first five), then the
    metrics in the order given (it ticks the first five)."""
    record = api_pb2.Experiment()
    differing = set(varied)
    for name, values in sorted(settings.items()):
        info = record.hparam_infos.add(name=name, differs=name in differing)
        if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
            info.type = api_pb2.DATA_TYPE_FLOAT64
            info.domain_interval.min_value, info.domain_interval.max_value = min(values), max(values)
        elif all(isinstance(v, bool) for v in values):
            info.type = api_pb2.DATA_TYPE_BOOL
            info.domain_discrete.extend(sorted(set(values)))
        else:
            info.type = api_pb2.DATA_TYPE_STRING
            info.domain_discrete.extend(sorted({str(v) for v in values}))
    for tag in metric_tags:
        record.metric_infos.add(name=api_pb2.MetricName(tag=tag))
    return _record(metadata.EXPERIMENT_TAG, plugin_data_pb2.HParamsPluginData(experiment=record))


def settings_of_session(run_dir: Path) -> dict[str, Setting] | None:
    """The settings a run's first session record holds (None: it has none), read from its events files
    until it is found (it is written before the run's first step, near the start of its first file)."""
    for events in sorted(run_dir.glob("events.out.tfevents.*")):
        for event in EventFileLoader(str(events)).Load():
            for value in event.summary.value if event.HasField("summary") else ():
                if value.tag == metadata.SESSION_START_INFO_TAG:
                    data = plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)
                    return {k: _setting(v) for k, v in data.session_start_info.hparams.items()}
    return None


def _setting(value: Any) -> Setting:
    """A protobuf Value as the Python value it holds."""
    kind = value.WhichOneof("kind")
    if kind == "bool_value":
        return bool(value.bool_value)
    return float(value.number_value) if kind == "number_value" else str(value.string_value)
