-- Marketplace charges (a third party's product the provider bills for) keep their seller;
-- the provider's own charges leave it empty. Facts ingested before this column existed read
-- as the provider's own until their export is ingested again.
ALTER TABLE cost_facts ADD COLUMN marketplace_publisher TEXT NOT NULL DEFAULT '';
