-- The owner's dataset-wide privacy budget (all buyers together) per dataset; the enclave keeps the spend on the
-- dataset's content commitment and checks it against these totals, which each approval states.
ALTER TABLE datasets ADD COLUMN epsilon_budget_total REAL NOT NULL DEFAULT 10;
ALTER TABLE datasets ADD COLUMN delta_budget_total REAL NOT NULL DEFAULT 0.000001;
