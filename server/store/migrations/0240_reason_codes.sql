-- Reasons as catalogue codes with parameters (formats/messages.ts) beside the English text kept for older
-- clients. Rows written before have NULL: they read back as the `note` code carrying their text.
ALTER TABLE trade_transitions ADD COLUMN code TEXT;
ALTER TABLE trade_transitions ADD COLUMN params TEXT;
ALTER TABLE ledger_transactions ADD COLUMN code TEXT;
ALTER TABLE ledger_transactions ADD COLUMN params TEXT;
