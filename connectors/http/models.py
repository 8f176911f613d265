"""Pydantic conventions shared by every REST source config: strict models and tagged unions.

Connection files are written by hand, so every model forbids unknown keys, and every union is
selected by its `type` key with one clear error when `type` is missing or unknown. The union tags
are the model class names (capitalised), which the YAML loader recognises as tags rather than keys,
so an error inside `auth:` is reported at `auth.token`, not at a made-up `auth.bearer.token`.
"""

from __future__ import annotations

from typing import Annotated, Any, Union

from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Tag


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _base_url(value: str) -> str:
    # The value is not echoed: a URL may carry a password (https://user:pass@host).
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value.rstrip("/")


BaseUrl = Annotated[str, AfterValidator(_base_url)]
"""An API root: http(s) only, stored without a trailing slash (paths are joined with "/")."""


def type_name(model: type[BaseModel]) -> str:
    """The `type:` value of a model in a tagged union (its `type` field's only literal)."""
    annotation = model.model_fields["type"].annotation
    return str(annotation.__args__[0])  # type: ignore[union-attr]


def tagged_union(what: str, *models: type[BaseModel]) -> Any:
    """`Annotated[A | B | ..., Discriminator]` choosing the model by its `type` key."""
    by_type = {type_name(m): m.__name__ for m in models}
    by_class = {m: m.__name__ for m in models}

    def tag(value: Any) -> str | None:
        if isinstance(value, dict):
            kind = value.get("type")
            return by_type.get(kind) if isinstance(kind, str) else None
        return by_class.get(type(value))

    choices = ", ".join(by_type)
    union = Union[tuple(Annotated[m, Tag(m.__name__)] for m in models)]  # type: ignore[valid-type]  # noqa: UP007
    return Annotated[union, Discriminator(tag, custom_error_type=f"{what}_type",
                                          custom_error_message=f"{what} needs a `type`: one of {choices}")]
