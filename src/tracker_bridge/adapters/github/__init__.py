"""GitHub adapter: issues of one or more repositories, a Projects (v2) board and the wiki.

Reads issues, milestones, dependencies and sub-issues over REST, our field values from the
Projects (v2) board over GraphQL, and keeps the plan page in the repository's wiki (a git
repository). Facts it relies on are in ``/work/shared/reference/tracker-apis.md`` (section 2)
and in the docstrings of the modules that rely on them:

* :mod:`.adapter` -- :class:`GitHubAdapter`, which wires the parts below into fetch, diff,
  apply and check;
* :mod:`.client` -- the one place that sends requests: counting, write pacing, rate-limit
  waits, retries, error translation, token scrubbing;
* :mod:`.fetch` -- issues, milestones, dependencies and sub-issues into a Snapshot, and the
  request budget of every operation;
* :mod:`.estimates` -- estimates from body lines, a board field and labels;
* :mod:`.keys` -- issue keys, and references to issues in URLs and bodies;
* :mod:`.projects` -- the Projects (v2) board over GraphQL: reading, diffing and writing our
  field values, setup;
* :mod:`.board` -- the board as read, and values as the board shows them;
* :mod:`.queries` -- the GraphQL documents;
* :mod:`.wiki` -- the wiki as a git repository: clone, merge, commit, push with retry;
* :mod:`.checks` -- the doctor's findings;
* :mod:`.context` -- what all of them know of the project.

Tracker-neutral value parsers (dates, instants, numbers) are in
:mod:`tracker_bridge.adapters.values`.
"""

from tracker_bridge.adapters.github.adapter import GitHubAdapter
from tracker_bridge.adapters.github.board import format_field_value
from tracker_bridge.adapters.github.checks import NEEDED_SCOPES as NEEDED_SCOPES
from tracker_bridge.adapters.github.client import DEFAULT_API as DEFAULT_API
from tracker_bridge.adapters.github.client import PAGE_SIZE as PAGE_SIZE
from tracker_bridge.adapters.github.estimates import parse_estimate
from tracker_bridge.adapters.github.fetch import pacific_date
from tracker_bridge.adapters.github.keys import body_dependencies, web_base
from tracker_bridge.adapters.github.projects import CRITICAL_OPTIONS as CRITICAL_OPTIONS
from tracker_bridge.adapters.github.projects import FIELD_TYPES
from tracker_bridge.adapters.github.projects import SETUP_DOC as SETUP_DOC
from tracker_bridge.adapters.github.wiki import MARKUP as MARKUP
from tracker_bridge.adapters.github.wiki import WIKI_COMMIT_MESSAGE as WIKI_COMMIT_MESSAGE
from tracker_bridge.adapters.github.wiki import _GitError as _GitError
from tracker_bridge.adapters.github.wiki import wiki_filename

__all__ = [
    "FIELD_TYPES",
    "GitHubAdapter",
    "body_dependencies",
    "format_field_value",
    "pacific_date",
    "parse_estimate",
    "wiki_filename",
]

#: The names the single module this package replaced had (the tests import ``_web_base``).
_web_base = web_base
