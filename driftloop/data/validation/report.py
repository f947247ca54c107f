"""The gate's verdict on one batch, in words a person can act on, free of any Great Expectations type."""

from __future__ import annotations

from driftloop.core.records import Record


class RuleFailure(Record):
    """One broken contract rule."""

    column: str | None
    rule: str
    expected: str
    observed: str

    def describe(self) -> str:
        """One line, e.g. `dep_delay: max_null_fraction expected <= 10% nulls, observed 37.0% nulls (…)`."""
        where = f"{self.column}: " if self.column is not None else ""
        return f"{where}{self.rule} expected {self.expected}, observed {self.observed}"


class ValidationReport(Record):
    """What the gate decided about one batch."""

    contract_name: str
    contract_version: int
    contract_fingerprint: str
    rows: int
    rules_checked: int
    failures: tuple[RuleFailure, ...]

    @property
    def passed(self) -> bool:
        """True when no rule of the contract is broken."""
        return not self.failures

    def message(self) -> str:
        """A header line, then one line per broken rule: the text a failed gate raises with."""
        contract = f"data contract '{self.contract_name}' v{self.contract_version}"
        if self.passed:
            return f"Batch passes {contract}: {self.rules_checked} rules checked on {self.rows:,} rows"
        lines = [f"Batch breaks {contract}: {len(self.failures)} rule(s)"]
        lines += [f"  - {failure.describe()}" for failure in self.failures]
        return "\n".join(lines)

    def to_markdown(self) -> str:
        """A verdict line and a table of broken rules, for a Prefect markdown artifact."""
        verdict = "PASSED" if self.passed else f"FAILED: {len(self.failures)} rule(s) broken"
        header = (
            f"**Data contract `{self.contract_name}` v{self.contract_version}**: {verdict} "
            f"({self.rows:,} rows, {self.rules_checked} rules checked, "
            f"fingerprint `{self.contract_fingerprint[:12]}`)"
        )
        if self.passed:
            return f"{header}\n\nNo rule broken.\n"
        rows = ["| column | rule | expected | observed |", "| --- | --- | --- | --- |"]
        for failure in self.failures:
            cells = (failure.column or "(table)", failure.rule, failure.expected, failure.observed)
            rows.append("| " + " | ".join(_md_cell(cell) for cell in cells) + " |")
        return header + "\n\n" + "\n".join(rows) + "\n"


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
