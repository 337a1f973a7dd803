-- Keeps daily_totals, user_daily_totals and user_totals (decision 037) true for every writer: triggers, because the
-- figures must follow each row whoever writes it (the ledger, scripts, a restore). The triggers are
-- created before the backfill so that the migration's write lock is taken before the backfill reads
-- (a writer in between would otherwise be counted by neither). SQLite has one writer: shard 0.
-- The PostgreSQL twin: db/migrations-pg/0002_daily_totals_triggers.sql.
CREATE TRIGGER daily_totals_after_insert AFTER INSERT ON transactions BEGIN
  INSERT INTO daily_totals (day, type, status, currency, shard, credits, revenue_minor, row_count)
  VALUES (NEW.created_at / 86400000, NEW.type, NEW.status,
    CASE WHEN NEW.type = 'purchase' AND json_valid(NEW.meta) THEN coalesce(lower(json_extract(NEW.meta, '$.currency')), '') ELSE '' END,
    0, NEW.amount,
    (CASE WHEN NEW.type = 'purchase' AND json_valid(NEW.meta) THEN coalesce(json_extract(NEW.meta, '$.amountTotal'), 0) ELSE 0 END),
    1)
  ON CONFLICT (day, type, status, currency, shard) DO UPDATE SET
    credits = credits + excluded.credits, revenue_minor = revenue_minor + excluded.revenue_minor, row_count = row_count + excluded.row_count;
END;
--> statement-breakpoint
-- Holds go pending -> posted or voided; any change of what a row adds to its day moves it.
CREATE TRIGGER daily_totals_after_update AFTER UPDATE OF created_at, type, status, amount, meta ON transactions
WHEN OLD.created_at / 86400000 IS NOT NEW.created_at / 86400000 OR OLD.type IS NOT NEW.type OR OLD.status IS NOT NEW.status
  OR OLD.amount IS NOT NEW.amount OR ((OLD.type = 'purchase' OR NEW.type = 'purchase') AND OLD.meta IS NOT NEW.meta)
BEGIN
  INSERT INTO daily_totals (day, type, status, currency, shard, credits, revenue_minor, row_count)
  VALUES (OLD.created_at / 86400000, OLD.type, OLD.status,
    CASE WHEN OLD.type = 'purchase' AND json_valid(OLD.meta) THEN coalesce(lower(json_extract(OLD.meta, '$.currency')), '') ELSE '' END,
    0, -OLD.amount,
    -(CASE WHEN OLD.type = 'purchase' AND json_valid(OLD.meta) THEN coalesce(json_extract(OLD.meta, '$.amountTotal'), 0) ELSE 0 END),
    -1)
  ON CONFLICT (day, type, status, currency, shard) DO UPDATE SET
    credits = credits + excluded.credits, revenue_minor = revenue_minor + excluded.revenue_minor, row_count = row_count + excluded.row_count;
  INSERT INTO daily_totals (day, type, status, currency, shard, credits, revenue_minor, row_count)
  VALUES (NEW.created_at / 86400000, NEW.type, NEW.status,
    CASE WHEN NEW.type = 'purchase' AND json_valid(NEW.meta) THEN coalesce(lower(json_extract(NEW.meta, '$.currency')), '') ELSE '' END,
    0, NEW.amount,
    (CASE WHEN NEW.type = 'purchase' AND json_valid(NEW.meta) THEN coalesce(json_extract(NEW.meta, '$.amountTotal'), 0) ELSE 0 END),
    1)
  ON CONFLICT (day, type, status, currency, shard) DO UPDATE SET
    credits = credits + excluded.credits, revenue_minor = revenue_minor + excluded.revenue_minor, row_count = row_count + excluded.row_count;
END;
--> statement-breakpoint
CREATE TRIGGER daily_totals_after_delete AFTER DELETE ON transactions BEGIN
  INSERT INTO daily_totals (day, type, status, currency, shard, credits, revenue_minor, row_count)
  VALUES (OLD.created_at / 86400000, OLD.type, OLD.status,
    CASE WHEN OLD.type = 'purchase' AND json_valid(OLD.meta) THEN coalesce(lower(json_extract(OLD.meta, '$.currency')), '') ELSE '' END,
    0, -OLD.amount,
    -(CASE WHEN OLD.type = 'purchase' AND json_valid(OLD.meta) THEN coalesce(json_extract(OLD.meta, '$.amountTotal'), 0) ELSE 0 END),
    -1)
  ON CONFLICT (day, type, status, currency, shard) DO UPDATE SET
    credits = credits + excluded.credits, revenue_minor = revenue_minor + excluded.revenue_minor, row_count = row_count + excluded.row_count;
END;
--> statement-breakpoint
-- Per user and day (user_daily_totals): the same moves, without currency or shard.
CREATE TRIGGER user_daily_totals_after_insert AFTER INSERT ON transactions BEGIN
  INSERT INTO user_daily_totals (user_id, day, type, status, credits, row_count)
  VALUES (NEW.user_id, NEW.created_at / 86400000, NEW.type, NEW.status, NEW.amount, 1)
  ON CONFLICT (user_id, day, type, status) DO UPDATE SET credits = credits + excluded.credits, row_count = row_count + excluded.row_count;
END;
--> statement-breakpoint
CREATE TRIGGER user_daily_totals_after_update AFTER UPDATE OF user_id, created_at, type, status, amount ON transactions
WHEN OLD.user_id IS NOT NEW.user_id OR OLD.created_at / 86400000 IS NOT NEW.created_at / 86400000 OR OLD.type IS NOT NEW.type
  OR OLD.status IS NOT NEW.status OR OLD.amount IS NOT NEW.amount
BEGIN
  INSERT INTO user_daily_totals (user_id, day, type, status, credits, row_count)
  VALUES (OLD.user_id, OLD.created_at / 86400000, OLD.type, OLD.status, -OLD.amount, -1)
  ON CONFLICT (user_id, day, type, status) DO UPDATE SET credits = credits + excluded.credits, row_count = row_count + excluded.row_count;
  INSERT INTO user_daily_totals (user_id, day, type, status, credits, row_count)
  VALUES (NEW.user_id, NEW.created_at / 86400000, NEW.type, NEW.status, NEW.amount, 1)
  ON CONFLICT (user_id, day, type, status) DO UPDATE SET credits = credits + excluded.credits, row_count = row_count + excluded.row_count;
END;
--> statement-breakpoint
CREATE TRIGGER user_daily_totals_after_delete AFTER DELETE ON transactions BEGIN
  INSERT INTO user_daily_totals (user_id, day, type, status, credits, row_count)
  VALUES (OLD.user_id, OLD.created_at / 86400000, OLD.type, OLD.status, -OLD.amount, -1)
  ON CONFLICT (user_id, day, type, status) DO UPDATE SET credits = credits + excluded.credits, row_count = row_count + excluded.row_count;
END;
--> statement-breakpoint
CREATE TRIGGER user_totals_after_insert AFTER INSERT ON users BEGIN
  INSERT INTO user_totals (shard, users, credits) VALUES (0, 1, NEW.credits)
  ON CONFLICT (shard) DO UPDATE SET users = users + excluded.users, credits = credits + excluded.credits;
END;
--> statement-breakpoint
CREATE TRIGGER user_totals_after_update AFTER UPDATE OF credits ON users WHEN OLD.credits IS NOT NEW.credits BEGIN
  INSERT INTO user_totals (shard, users, credits) VALUES (0, 0, NEW.credits - OLD.credits)
  ON CONFLICT (shard) DO UPDATE SET users = users + excluded.users, credits = credits + excluded.credits;
END;
--> statement-breakpoint
CREATE TRIGGER user_totals_after_delete AFTER DELETE ON users BEGIN
  INSERT INTO user_totals (shard, users, credits) VALUES (0, -1, -OLD.credits)
  ON CONFLICT (shard) DO UPDATE SET users = users + excluded.users, credits = credits + excluded.credits;
END;
--> statement-breakpoint
-- Backfill: the figures of every row already there.
INSERT INTO daily_totals (day, type, status, currency, shard, credits, revenue_minor, row_count)
SELECT created_at / 86400000, type, status,
  CASE WHEN type = 'purchase' AND json_valid(meta) THEN coalesce(lower(json_extract(meta, '$.currency')), '') ELSE '' END AS currency,
  0, sum(amount),
  sum(CASE WHEN type = 'purchase' AND json_valid(meta) THEN coalesce(json_extract(meta, '$.amountTotal'), 0) ELSE 0 END),
  count(*)
FROM transactions GROUP BY 1, 2, 3, 4;
--> statement-breakpoint
INSERT INTO user_totals (shard, users, credits) SELECT 0, count(*), coalesce(sum(credits), 0) FROM users;
--> statement-breakpoint
INSERT INTO user_daily_totals (user_id, day, type, status, credits, row_count)
SELECT user_id, created_at / 86400000, type, status, sum(amount), count(*) FROM transactions GROUP BY 1, 2, 3, 4;
