-- Whether an anomaly was current when its monitor last judged the series: one that ended more
-- than the monitor's alert_max_age_days before the newest judged day (a first run over a
-- year of history, a restated old month) is kept and listed but never sent.
ALTER TABLE anomalies ADD COLUMN recency TEXT NOT NULL DEFAULT 'current';
