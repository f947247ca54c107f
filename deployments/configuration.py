"""The configuration reference (`docs/configuration.md`), written from the settings classes themselves.

Every `DRIFTLOOP_*` variable, its default and what it does, read from the pydantic-settings classes the
code loads, so the page cannot say something the code does not do. Regenerate it with
`.venv/bin/python -m deployments.configuration > docs/configuration.md`; a test fails when it is stale.
"""

from __future__ import annotations

import json

from pydantic import SecretStr
from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

from deployments.environment import PrefectRuntimeSettings, ValidatorSettings
from deployments.stack.settings import StackSettings
from driftloop.core import settings as domain

# The concerns in the order a reader meets them, each with a line on when it matters.
CONCERNS: tuple[tuple[type[BaseSettings], str], ...] = (
    (domain.StorageSettings, "Where everything is stored."),
    (domain.DataSettings, "Which data set, through its contract."),
    (domain.TrainingSettings, "How a model is trained; recorded in every model's lineage."),
    (domain.PromotionSettings, "The evidence a challenger needs."),
    (domain.DriftSettings, "How monitoring measures a period."),
    (domain.PolicySettings, "Which alarms start a retraining."),
    (domain.ServingSettings, "The online service, `driftloop serve`."),
    (domain.ServingSecrets, "The service's secret (environment only)."),
    (domain.S3Settings, "An `s3://` store's endpoint and keys (environment only)."),
    (domain.DaskSettings, "Scale-out on a Dask cluster (unset: everything runs in this process)."),
    (PrefectRuntimeSettings, "The embedded default's local Prefect server."),
    (ValidatorSettings, "The warm validator that answers a `driftloop validate` after the first."),
    (StackSettings, "The local production stack, `driftloop stack`."),
)

HEADER = """# Configuration

Every setting is an environment variable, read once when a command starts (pydantic settings, one class per
concern). `--store` and `--contract` override `DRIFTLOOP_STORAGE_URL` and `DRIFTLOOP_DATA_CONTRACT` for one
command. Secrets (S3 keys, the reload token) come only from the environment and never reach flow parameters,
logs or artifacts.

This page is generated from the settings classes
(`.venv/bin/python -m deployments.configuration > docs/configuration.md`); `tests/test_docs.py` fails when it
is out of date.
"""


def _default(settings: type[BaseSettings], name: str) -> str:
    field = settings.model_fields[name]
    value = field.default_factory() if field.default_factory is not None else field.default  # type: ignore[call-arg]
    if value is PydanticUndefined or value is None or isinstance(value, SecretStr):
        return "unset"
    if isinstance(value, tuple | list):
        return f"`{json.dumps(list(value))}`"  # a list is set as JSON
    return f"`{value}`"


def render() -> str:
    """The whole page, as Markdown."""
    parts = [HEADER]
    for settings, why in CONCERNS:
        prefix = settings.model_config.get("env_prefix", "")
        parts += [
            f"\n## `{prefix}*`: {settings.__name__}\n",
            why,
            "",
            "| variable | default | what it does |",
            "|---|---|---|",
        ]
        for name, field in settings.model_fields.items():
            description = (field.description or "").replace("|", "\\|")
            parts.append(f"| `{prefix}{name.upper()}` | {_default(settings, name)} | {description} |")
    return "\n".join(parts) + "\n"


if __name__ == "__main__":  # pragma: no cover - `python -m deployments.configuration`
    print(render(), end="")
