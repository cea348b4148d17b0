-- Allocated costs keep the FOCUS ChargeCategory (Usage, Purchase, Tax, Credit, Adjustment):
-- forecasts and anomaly detection learn from usage, not from monthly fees. `finopsd
-- allocate` fills it for rows allocated before this column existed.
ALTER TABLE allocated_costs ADD COLUMN charge_category TEXT NOT NULL DEFAULT '';
