"""Every table ``winwin reproduce`` knows, by key, in the order the report shows them."""

from __future__ import annotations

from .tables import TABLE1, TABLE2, Table
from .tables_flow import TABLE3
from .tables_studies import APPENDIX_A, CONVERGENCE, CONVERGENCE_FLOW, LEARNED_T, POS_EMBED

_ORDER = (TABLE1, CONVERGENCE, TABLE2, TABLE3, CONVERGENCE_FLOW, POS_EMBED, APPENDIX_A, LEARNED_T)
TABLES: dict[str, Table] = {t.key: t for t in _ORDER}
DEFAULT_TABLES = ("table1", "convergence", "table2", "posembed", "appendixA", "learnedT", "table3", "convergence_flow")
