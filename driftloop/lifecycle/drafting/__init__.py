"""Drafting a data contract from a file: the first step of a new data set's lifecycle (`driftloop contract
init`).

- `time_column`: how the times are written (read by `driftloop.core.times.local_times`), the period, rows
  per period, the windows, calendar features;
- `columns`: each column's type, range, null limit, categories; identifiers; the label rule; a unique key;
- `leaks`: columns that would leak the label, alone or as a group that restates the target;
- `draft`: all of it as one contract, its comments and what a person must still decide (`draft_contract`),
  and the gate's verdict on the file's periods against it (`check_draft`);
- `render`: the draft as commented YAML (`render_draft`);
- `records`: what they read and produce.
"""

from driftloop.lifecycle.drafting.draft import check_draft, draft_contract
from driftloop.lifecycle.drafting.records import Decision, Draft, DraftCheck, DraftRefused, DraftRequest
from driftloop.lifecycle.drafting.render import render_draft

__all__ = [
    "Decision",
    "Draft",
    "DraftCheck",
    "DraftRefused",
    "DraftRequest",
    "check_draft",
    "draft_contract",
    "render_draft",
]
