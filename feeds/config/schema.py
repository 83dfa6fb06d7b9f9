"""The JSON Schema of a feed configuration (``feeds schema``), for editors and other tools.

Pydantic writes the schema of the model; this adds what pydantic cannot say:
unique columns, Hub's second spelling of ``delivery_procotol``, and what each
delivery method requires (read from the methods).
"""

from __future__ import annotations

from typing import Any

from ..deliver import METHODS
from .model import FeedConfig, hub_name, raw_names


def json_schema() -> dict[str, Any]:
    schema = FeedConfig.model_json_schema(by_alias=True, mode="validation")
    props = schema["properties"]
    props["columns"]["uniqueItems"] = True
    props["columns"]["type"] = "array"
    props.pop("last_upload", None)
    props["last_upload"] = {"description": "Read-only, set by Hub; ignored on upload.", "type": ["string", "null"]}
    for name in FeedConfig.model_fields:
        for other in raw_names(name)[1:]:
            props[other] = {"$ref": f"#/properties/{raw_names(name)[0]}",
                            "description": f"Accepted spelling of {raw_names(name)[0]}."}
    props["timeslot"]["multipleOf"] = 30
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["allOf"] = [
        {
            "if": {"properties": {"delivery_method": {"const": method.name}}, "required": ["delivery_method"]},
            "then": {"required": [hub_name(name) for name in method.required], **method.schema_then},
        }
        for method in METHODS.values()
    ]
    return schema
