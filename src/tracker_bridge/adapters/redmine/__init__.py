"""Redmine / Planio adapter: fetch a project into a Snapshot, diff, apply, and doctor checks.

Talks to Redmine's REST API through python-redmine (``redminelib``). Facts and traps it relies
on are in ``/work/shared/reference/tracker-apis.md`` (section 1) and in the docstrings of the
modules that rely on them:

* :mod:`.adapter` -- :class:`RedmineAdapter`, which wires the parts below into fetch, diff,
  apply and check;
* :mod:`.client` -- the one place that sends requests: the session (timeout, request counting,
  ``X-Skip-Webhooks``), error translation, key scrubbing, the key and project lookups;
* :mod:`.fetch` -- a full fetch into a Snapshot (issues, relations, versions, time entries,
  custom fields), and the request budget of every fetch;
* :mod:`.incremental` -- the ``since``/``cached`` merge, its count check and its fallbacks to
  a full fetch;
* :mod:`.risks` -- the risk register and three-point estimate ranges;
* :mod:`.fields` -- custom-field values as Redmine stores and compares them, and which
  custom field is which of our logical (and optional overlay) fields;
* :mod:`.updates` -- the diff of our field values and one PUT per issue;
* :mod:`.wiki` -- the plan page: managed block merge, version/409 retry, attachments;
* :mod:`.checks` -- the doctor's findings;
* :mod:`.kit` -- the Redmine side shipped as package data: the custom-field script and how
  ``tracker-bridge setup redmine`` runs it on the Redmine host;
* :mod:`.context` -- what all of them know of the project.

Tracker-neutral value parsers (dates, instants, numbers) are in
:mod:`tracker_bridge.adapters.values`.
"""

from tracker_bridge.adapters.redmine.adapter import RedmineAdapter
from tracker_bridge.adapters.redmine.checks import NEEDED_PERMISSIONS as NEEDED_PERMISSIONS
from tracker_bridge.adapters.redmine.client import PAGE_SIZE as PAGE_SIZE
from tracker_bridge.adapters.redmine.fields import EXPECTED_FORMATS as EXPECTED_FORMATS
from tracker_bridge.adapters.redmine.fields import FLOAT_DECIMALS as FLOAT_DECIMALS
from tracker_bridge.adapters.redmine.fields import (
    OPTIONAL_FIELD_PURPOSE as OPTIONAL_FIELD_PURPOSE,
)
from tracker_bridge.adapters.redmine.fields import SETUP_COMMAND as SETUP_COMMAND
from tracker_bridge.adapters.redmine.fields import format_value, values_equal
from tracker_bridge.adapters.redmine.incremental import (
    INCREMENTAL_MARGIN as INCREMENTAL_MARGIN,
)
from tracker_bridge.adapters.redmine.wiki import ATTACHMENT_TAG as ATTACHMENT_TAG
from tracker_bridge.adapters.redmine.wiki import MAX_CONFLICT_RETRIES as MAX_CONFLICT_RETRIES
from tracker_bridge.adapters.redmine.wiki import WIKI_COMMENT as WIKI_COMMENT
from tracker_bridge.adapters.redmine.wiki import wiki_title

__all__ = ["RedmineAdapter", "format_value", "values_equal", "wiki_title"]
