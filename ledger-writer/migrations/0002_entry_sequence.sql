-- ledger_entry v2: each entry's place in its line (1, 2, 3, …). The row with the highest
-- sequence of a commission_id holds its current status, in any read order. 0 on rows written
-- before v2.
-- 18.16 has no ADD COLUMN IF NOT EXISTS: the runner takes "already exists" as applied.
ALTER TABLE ledger_entries ADD COLUMN sequence UInt32 DEFAULT 0;
