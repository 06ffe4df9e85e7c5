"""docs/README.md is the way into the documentation: it must link every page in docs/."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_the_docs_index_links_every_page_and_only_pages_that_exist() -> None:
    index = (DOCS / "README.md").read_text()
    linked = set(re.findall(r"\]\(([\w.-]+\.md)\)", index))
    pages = {p.name for p in DOCS.glob("*.md")} - {"README.md"}
    assert pages - linked == set(), f"pages missing from docs/README.md: {sorted(pages - linked)}"
    assert linked - pages == set(), f"docs/README.md links pages that do not exist: {sorted(linked - pages)}"
