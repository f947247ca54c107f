"""A registry checked end to end: what its write paths promise, whatever crashed or raced in between.

`driftloop models --check` runs it for an operator; the fault suite runs it after every kill and race.
It reads every file (each blob through its SHA-256), so it costs a full read of the registry.
"""

from __future__ import annotations

from dataclasses import dataclass

from driftloop.core import layout
from driftloop.registry.integrity import IntegrityError
from driftloop.registry.records import Evaluation, ModelVersion, PromotionEntry
from driftloop.registry.registry import Registry


@dataclass(frozen=True)
class RegistryCheck:
    """What `check_registry` found: the counts, and each problem in a sentence (none: it checks out)."""

    versions: int
    promotions: int
    champion: int | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def check_registry(registry: Registry) -> RegistryCheck:
    """Check every version's files, the promotion log, the champion pointer and the evidence of each
    promotion: a promotion the rule made must rest on an evaluation against the champion it replaced."""
    problems: list[str] = []
    versions = _versions(registry, problems)
    entries = _log(registry, versions, problems)
    _pointer(registry, entries, problems)
    for entry in entries:
        if entry.evidence is None:
            continue  # a person's promotion (a rollback): no evaluation behind it
        evaluation = registry.evaluation_against(entry.version, entry.previous_version)
        previous = f"v{entry.previous_version}" if entry.previous_version is not None else "no champion"
        if evaluation is None:
            problems.append(
                f"promotion {entry.seq} (v{entry.version} over {previous}): no evaluation against {previous}"
            )
        elif not evaluation.decision.promote:
            problems.append(
                f"promotion {entry.seq} (v{entry.version} over {previous}): its evaluation refused it"
            )
    for evaluation in _evaluations(registry, problems):
        if evaluation.version not in versions:
            problems.append(f"an evaluation names v{evaluation.version}, which is not committed")
    champion = entries[-1].version if entries else None
    return RegistryCheck(len(versions), len(entries), champion, tuple(problems))


def _versions(registry: Registry, problems: list[str]) -> dict[int, ModelVersion]:
    try:
        versions = {version.version: version for version in registry.versions()}
    except IntegrityError as damaged:
        problems.append(str(damaged))
        return {}
    if sorted(versions) != list(range(1, len(versions) + 1)):
        problems.append(f"version numbers are not 1..{len(versions)}: {sorted(versions)}")
    for version in versions.values():
        for name, digest in version.files.model_dump().items():
            if digest is None:
                continue  # a file versions before v0.3 did not have
            try:
                registry.blobs.get(digest)
            except IntegrityError as damaged:
                problems.append(f"v{version.version} {name}: {damaged}")
    return versions


def _log(registry: Registry, versions: dict[int, ModelVersion], problems: list[str]) -> list[PromotionEntry]:
    try:
        entries = registry.promotion_log()
    except IntegrityError as damaged:
        problems.append(str(damaged))
        return []
    previous = None
    for number, entry in enumerate(entries, start=1):
        if entry.seq != number:
            problems.append(f"the promotion log skips from {number - 1} to {entry.seq}")
        if entry.version not in versions:
            problems.append(f"promotion {entry.seq} names v{entry.version}, which is not committed")
        if entry.previous_version != previous:
            problems.append(
                f"promotion {entry.seq} says it replaced v{entry.previous_version}; v{previous} was champion"
            )
        previous = entry.version
    return entries


def _pointer(registry: Registry, entries: list[PromotionEntry], problems: list[str]) -> None:
    """The pointer may lag the log or be missing (readers move it forward, writing it if need be), but
    never name what the log does not hold."""
    key = layout.champion_pointer(registry.model)
    pointer, etag = registry.log.pointer()
    if pointer is None:
        if etag is not None:
            problems.append(f"{registry.storage.uri(key)} does not parse as a champion pointer")
        return
    if not 0 < pointer.seq <= len(entries) or entries[pointer.seq - 1].version != pointer.version:
        problems.append(
            f"{registry.storage.uri(key)} names v{pointer.version} at log entry {pointer.seq}, "
            "which the log does not back"
        )


def _evaluations(registry: Registry, problems: list[str]) -> list[Evaluation]:
    try:
        return registry.evaluations()
    except IntegrityError as damaged:
        problems.append(str(damaged))
        return []
