"""Config sections an adapter owns: ``[projects.NAME.<kind>]`` and the ``[webhooks] <kind>_*``
keys (e.g. ``<kind>_secret_env``).

The core knows no tracker's options. A key that names an installed adapter kind is validated
with the model that adapter exposes (``settings_model`` for a project's section,
``webhook_settings_model`` for its webhook keys), found through the adapter registry; only the
adapters a config actually uses are imported. The adapter reads its validated options back by
their model: ``project.options(TheAdapterSettings)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import (
    BaseModel,
    PrivateAttr,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from tracker_bridge.settings.base import _Section

__all__ = ["AdapterSections", "config_schema", "webhook_secret_keys"]

M = TypeVar("M", bound=BaseModel)
#: Which model of the adapter a section is validated with.
ModelRole = Literal["settings_model", "webhook_settings_model"]


def _installed() -> list[str]:
    from tracker_bridge.adapters.protocol import installed_kinds  # (it imports settings)

    return installed_kinds()


def _model_of(kind: str, role: ModelRole) -> type[BaseModel] | None:
    from tracker_bridge.adapters.protocol import adapter_factory

    model: type[BaseModel] | None = getattr(adapter_factory(kind), role, None)
    return model


def _details(error: ValidationError, prefix: tuple[str | int, ...]) -> list[InitErrorDetails]:
    """The errors of ``error`` located below ``prefix``, each keeping its type (so that
    ``extra_forbidden`` still reads "unknown key") and its message."""
    return [
        InitErrorDetails(
            type=PydanticCustomError(e["type"], e["msg"]),
            loc=(*prefix, *e["loc"]),
            input=e["input"],
        )
        for e in error.errors()
    ]


class AdapterSections(_Section):
    """A section some of whose keys belong to adapters (validated with the adapter's model).

    ``table``: a sub-table named after the kind (``[projects.NAME.<kind>]``); ``prefix``: the
    keys that start with ``<kind>_`` (``[webhooks] <kind>_secret_env``), validated together
    under their own names.
    """

    _adapter_keys: ClassVar[Literal["table", "prefix"]] = "table"
    _adapter_model: ClassVar[ModelRole] = "settings_model"
    _options: dict[str, BaseModel] = PrivateAttr(default_factory=dict)

    def options(self, model: type[M]) -> M | None:
        """The validated options of the adapter whose model is ``model`` (None: not given)."""
        for value in self._options.values():
            if isinstance(value, model):
                return value
        return None

    @classmethod
    def _owner(cls, key: str, kinds: Iterable[str]) -> str | None:
        """The adapter kind ``key`` belongs to, or None (a key of the core, or a typo)."""
        if cls._adapter_keys == "table":
            return key if key in kinds else None
        owners = [kind for kind in kinds if key.startswith(f"{kind}_")]
        return max(owners, key=len) if owners else None

    @model_validator(mode="wrap")
    @classmethod
    def _adapter_sections(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if not isinstance(data, dict) or not set(data) - set(cls.model_fields):
            return handler(data)
        kinds = _installed()  # only when a key is not the core's: the common case reads none
        grouped: dict[str, dict[str, Any]] = {}
        core: dict[str, Any] = {}
        for key, value in data.items():
            kind = cls._owner(str(key), kinds) if key not in cls.model_fields else None
            if kind is None:
                core[key] = value
            elif cls._adapter_keys == "table":
                grouped[kind] = value
            else:
                grouped.setdefault(kind, {})[key] = value
        errors: list[InitErrorDetails] = []
        options: dict[str, BaseModel] = {}
        for kind, raw in grouped.items():
            prefix: tuple[str, ...] = (kind,) if cls._adapter_keys == "table" else ()
            model = _model_of(kind, cls._adapter_model)
            if model is None:
                keys = [kind] if cls._adapter_keys == "table" else list(raw)
                errors.extend(
                    InitErrorDetails(
                        type=PydanticCustomError(
                            "no_adapter_options", f"the {kind!r} adapter has no such options"
                        ),
                        loc=(key,),
                        input=raw,
                    )
                    for key in keys
                )
                continue
            try:
                options[kind] = model.model_validate(raw)
            except ValidationError as e:
                errors.extend(_details(e, prefix))
        try:
            section = handler(core)
        except ValidationError as e:
            errors = _details(e, ()) + errors
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        section._options = options
        return section

    @model_serializer(mode="wrap")
    def _with_options(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        """Dumps show the adapters' sections where the file has them (a digest of the
        settings changes when an adapter's options do; secrets are redacted from them)."""
        data: dict[str, Any] = handler(self)
        for kind, value in self._options.items():
            dumped = value.model_dump(mode=info.mode)
            if self._adapter_keys == "table":
                data[kind] = dumped
            else:
                data.update(dumped)
        return data


def webhook_secret_keys() -> list[str]:
    """The ``[webhooks]`` keys that name a sender's secret variable (``<kind>_*_env``), of
    every installed adapter: what to set when none is configured."""
    keys: list[str] = []
    for kind in _installed():
        model = _model_of(kind, "webhook_settings_model")
        if model is not None:
            keys += [name for name in model.model_fields if name.endswith("_env")]
    return keys


def config_schema() -> dict[str, Any]:
    """The JSON Schema of the config with every installed adapter's sections in place."""
    from tracker_bridge.settings import ProjectSettings, Settings, WebhookSettings

    schema = Settings.model_json_schema()
    defs: dict[str, Any] = schema.setdefault("$defs", {})
    sections: tuple[tuple[type[AdapterSections], ModelRole], ...] = (
        (ProjectSettings, "settings_model"),
        (WebhookSettings, "webhook_settings_model"),
    )
    for kind in _installed():
        for section, role in sections:
            model = _model_of(kind, role)
            if model is None:
                continue
            part = model.model_json_schema(ref_template="#/$defs/{model}")
            defs.update(part.pop("$defs", {}))
            properties = defs[section.__name__]["properties"]
            if section._adapter_keys == "table":
                defs[model.__name__] = part
                properties[kind] = {
                    "$ref": f"#/$defs/{model.__name__}",
                    "description": f"Options of the {kind!r} adapter",
                }
            else:
                properties.update(part.get("properties", {}))
    return schema
