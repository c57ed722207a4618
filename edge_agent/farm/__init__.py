"""Farm (CEA) enrichment: Grow ID lifecycle, site and automation fusion, grow-recipe alerts.

Data flow (DESIGN.md, "enrich"): the context datasets (``seeding``, ``site``, ``automation``)
are recorded in the state database in the same transaction that advances their files; each
``tower`` reading is tagged and joined as it is read (:mod:`.enrich`), published at once when
its joins are final, otherwise held for a grace period (:mod:`.worker`), and corrected when
context it was published without arrives later. Alerts are derived from the published readings
of each station (:mod:`.alerts`).
"""
