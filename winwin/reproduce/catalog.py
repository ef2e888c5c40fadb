"""Every table ``winwin reproduce`` knows, by key, in the order the report shows them."""

from __future__ import annotations

from .tables import TABLE1, TABLE2, Table
from .tables_flow import TABLE3
from .tables_studies import APPENDIX_A, CONVERGENCE, LEARNED_T, POS_EMBED

TABLES: dict[str, Table] = {t.key: t for t in (TABLE1, CONVERGENCE, TABLE2, TABLE3, POS_EMBED, APPENDIX_A, LEARNED_T)}
DEFAULT_TABLES = ("table1", "convergence", "table2", "posembed", "appendixA", "learnedT", "table3")
