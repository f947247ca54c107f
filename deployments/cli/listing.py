"""The registry as a person reads it (`driftloop models`) and as a script reads it (`--json`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from driftloop.registry import Registry


def registry_json(registry: Registry) -> dict[str, Any]:
    champion = registry.champion()
    return {
        "model": registry.model,
        "champion": champion.version if champion else None,
        "versions": [
            {
                "version": v.version,
                "created_at": v.created_at,
                "as_of": v.lineage.as_of,
                "holdout_auc": v.metrics.holdout.auc,
                "model_sha256": v.model_sha256,
            }
            for v in registry.versions()
        ],
        "promotion_log": [entry.model_dump(mode="json") for entry in registry.promotion_log()],
    }


def registry_text(registry: Registry) -> str:
    versions = registry.versions()
    champion = registry.champion()
    lines = [
        f"Model {registry.model} in {registry.storage.url}: {len(versions)} version(s), "
        f"champion {f'v{champion.version}' if champion else 'none'}",
        "",
        f"{'version':<8} {'as of':<10} {'holdout AUC':>11}  {'created (UTC)':<26} model sha256",
    ]
    for v in versions:
        mark = " *" if champion and v.version == champion.version else ""
        lines.append(
            f"v{v.version:<7} {v.lineage.as_of:<10} {v.metrics.holdout.auc:>11.4f}  "
            f"{v.created_at[:26]:<26} {v.model_sha256[:16]}{mark}"
        )
    lines += ["", "Promotion log:"]
    for entry in registry.promotion_log():
        previous = f"v{entry.previous_version}" if entry.previous_version else "none"
        lines.append(
            f"  #{entry.seq} {entry.at[:19]} data {entry.data_period or '-'}: {previous} -> "
            f"v{entry.version} — {entry.reason}"
        )
    rejected = [e for e in registry.evaluations() if not e.decision.promote]
    if rejected:
        lines += ["", "Not promoted:"]
        lines += [f"  v{e.version} (as of {e.as_of}): {'; '.join(e.decision.reasons)}" for e in rejected]
    return "\n".join(lines)
