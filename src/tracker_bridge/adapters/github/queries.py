"""The GraphQL documents sent for the Projects (v2) board: read the board and its items, add
an issue to it, set or clear an item's field values, create a field."""

from __future__ import annotations

__all__ = ["ADD_ITEM", "CREATE_FIELD", "ITEMS_QUERY", "project_query", "set_fields_mutation"]

_FIELD_VALUE_FIELD = "field { __typename ... on ProjectV2FieldCommon { id name } }"
_ITEMS_SELECTION = f"""
      pageInfo {{ hasNextPage endCursor }}
      nodes {{
        id
        content {{ __typename ... on Issue {{ id number repository {{ nameWithOwner }} }} }}
        fieldValues(first: 50) {{
          nodes {{
            __typename
            ... on ProjectV2ItemFieldDateValue {{ date {_FIELD_VALUE_FIELD} }}
            ... on ProjectV2ItemFieldNumberValue {{ number {_FIELD_VALUE_FIELD} }}
            ... on ProjectV2ItemFieldSingleSelectValue {{ name optionId {_FIELD_VALUE_FIELD} }}
            ... on ProjectV2ItemFieldTextValue {{ text {_FIELD_VALUE_FIELD} }}
          }}
        }}
      }}"""

_PROJECT_QUERY = """
query TrackerBridgeProject($login: String!, $number: Int!, $withItems: Boolean!) {
  owner: %(owner)s(login: $login) {
    projectV2(number: $number) {
      id
      title
      url
      fields(first: 100) {
        nodes {
          __typename
          ... on ProjectV2FieldCommon { id name dataType }
          ... on ProjectV2SingleSelectField { options { id name } }
        }
      }
      items(first: 100) @include(if: $withItems) {%(items)s
      }
    }
  }
}
"""

ITEMS_QUERY = f"""
query TrackerBridgeProjectItems($project: ID!, $after: String) {{
  node(id: $project) {{
    __typename
    ... on ProjectV2 {{
      items(first: 100, after: $after) {{{_ITEMS_SELECTION}
      }}
    }}
  }}
}}
"""

ADD_ITEM = """
mutation TrackerBridgeAddItem($project: ID!, $content: ID!) {
  addProjectV2ItemById(input: {projectId: $project, contentId: $content}) { item { id } }
}
"""

CREATE_FIELD = """
mutation TrackerBridgeCreateField($input: CreateProjectV2FieldInput!) {
  createProjectV2Field(input: $input) {
    projectV2Field { __typename ... on ProjectV2FieldCommon { id name dataType } }
  }
}
"""


def project_query(owner_kind: str) -> str:
    owner = "organization" if owner_kind == "org" else "user"
    return _PROJECT_QUERY % {"owner": owner, "items": _ITEMS_SELECTION}


def set_fields_mutation(ops: list[tuple[str, bool]]) -> str:
    """One mutation document: per op an aliased update (True) or clear (False)."""
    params = ["$project: ID!", "$item: ID!"]
    parts = []
    for alias, is_update in ops:
        params.append(f"${alias}Field: ID!")
        target = f"projectId: $project, itemId: $item, fieldId: ${alias}Field"
        if is_update:
            params.append(f"${alias}Value: ProjectV2FieldValue!")
            parts.append(
                f"  {alias}: updateProjectV2ItemFieldValue(input: {{{target}, "
                f"value: ${alias}Value}}) {{ projectV2Item {{ id }} }}"
            )
        else:
            parts.append(
                f"  {alias}: clearProjectV2ItemFieldValue(input: {{{target}}}) "
                "{ projectV2Item { id } }"
            )
    return f"mutation TrackerBridgeSetFields({', '.join(params)}) {{\n" + "\n".join(parts) + "\n}\n"
