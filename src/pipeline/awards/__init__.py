"""The awards ledger (奖励台账): money a firm is owed under local policy packs, derived from its recognitions
("免申即享"), stacked "从高、不重复", split between payers, approved, paid and audited on chains of their own."""
