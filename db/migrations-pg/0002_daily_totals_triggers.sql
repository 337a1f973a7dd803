-- Keeps daily_totals, user_daily_totals and user_totals (decision 037) true for every writer, as the SQLite twin
-- (db/migrations/0011_daily_totals_triggers.sql) does. Statement-level triggers over transition
-- tables: a bulk insert (db:copy-to-postgres writes 1,000 rows a statement) is one grouped upsert,
-- not one per row. Shard = user id % 16, so concurrent writers of different users seldom wait on
-- one totals row (each waits on its own until commit). Readers sum over shards.
-- Nothing writes while this runs: the lock is taken before the triggers exist and the backfill reads.
LOCK TABLE transactions, users IN SHARE ROW EXCLUSIVE MODE;
--> statement-breakpoint
-- A purchase's currency and money taken, as SQLite's json_extract reads them; meta that is not JSON
-- counts as none (a ledger write must never fail for a malformed note).
CREATE FUNCTION daily_totals_currency(row_type text, meta text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF row_type <> 'purchase' OR meta IS NULL THEN RETURN ''; END IF;
  RETURN coalesce(lower(meta::json ->> 'currency'), '');
EXCEPTION WHEN others THEN RETURN '';
END $$;
--> statement-breakpoint
CREATE FUNCTION daily_totals_revenue(row_type text, meta text) RETURNS bigint LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF row_type <> 'purchase' OR meta IS NULL THEN RETURN 0; END IF;
  RETURN coalesce((meta::json ->> 'amountTotal')::numeric, 0)::bigint;
EXCEPTION WHEN others THEN RETURN 0;
END $$;
--> statement-breakpoint
-- New rows count +1, removed ones -1; an UPDATE is both, so a row whose figures did not change
-- cancels out and a hold that was posted moves from its pending group to its posted one. Each
-- branch names only the transition tables its trigger has (a query naming another fails to plan).
CREATE FUNCTION daily_totals_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO daily_totals AS d (day, type, status, currency, shard, credits, revenue_minor, row_count)
    SELECT day, type, status, currency, shard, sum(credits), sum(revenue_minor), sum(row_count)
    FROM (
      SELECT created_at / 86400000 AS day, type, status, daily_totals_currency(type, meta) AS currency, user_id % 16 AS shard,
        amount AS credits, daily_totals_revenue(type, meta) AS revenue_minor, 1 AS row_count FROM new_rows) delta
    GROUP BY day, type, status, currency, shard
    HAVING sum(row_count) <> 0 OR sum(credits) <> 0 OR sum(revenue_minor) <> 0
    ORDER BY day, type, status, currency, shard
    ON CONFLICT (day, type, status, currency, shard) DO UPDATE SET
      credits = d.credits + excluded.credits,
      revenue_minor = d.revenue_minor + excluded.revenue_minor,
      row_count = d.row_count + excluded.row_count;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO daily_totals AS d (day, type, status, currency, shard, credits, revenue_minor, row_count)
    SELECT day, type, status, currency, shard, sum(credits), sum(revenue_minor), sum(row_count)
    FROM (
      SELECT created_at / 86400000 AS day, type, status, daily_totals_currency(type, meta) AS currency, user_id % 16 AS shard,
        -amount AS credits, -daily_totals_revenue(type, meta) AS revenue_minor, -1 AS row_count FROM old_rows) delta
    GROUP BY day, type, status, currency, shard
    HAVING sum(row_count) <> 0 OR sum(credits) <> 0 OR sum(revenue_minor) <> 0
    ORDER BY day, type, status, currency, shard
    ON CONFLICT (day, type, status, currency, shard) DO UPDATE SET
      credits = d.credits + excluded.credits,
      revenue_minor = d.revenue_minor + excluded.revenue_minor,
      row_count = d.row_count + excluded.row_count;
  ELSE
    INSERT INTO daily_totals AS d (day, type, status, currency, shard, credits, revenue_minor, row_count)
    SELECT day, type, status, currency, shard, sum(credits), sum(revenue_minor), sum(row_count)
    FROM (
      SELECT created_at / 86400000 AS day, type, status, daily_totals_currency(type, meta) AS currency, user_id % 16 AS shard,
        amount AS credits, daily_totals_revenue(type, meta) AS revenue_minor, 1 AS row_count FROM new_rows
      UNION ALL
      SELECT created_at / 86400000 AS day, type, status, daily_totals_currency(type, meta) AS currency, user_id % 16 AS shard,
        -amount AS credits, -daily_totals_revenue(type, meta) AS revenue_minor, -1 AS row_count FROM old_rows) delta
    GROUP BY day, type, status, currency, shard
    HAVING sum(row_count) <> 0 OR sum(credits) <> 0 OR sum(revenue_minor) <> 0
    ORDER BY day, type, status, currency, shard
    ON CONFLICT (day, type, status, currency, shard) DO UPDATE SET
      credits = d.credits + excluded.credits,
      revenue_minor = d.revenue_minor + excluded.revenue_minor,
      row_count = d.row_count + excluded.row_count;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
-- Per user and day: the same moves, without currency or shard (a user's writes are serialised
-- on their users row already).
CREATE FUNCTION user_daily_totals_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO user_daily_totals AS u (user_id, day, type, status, credits, row_count)
    SELECT user_id, day, type, status, sum(credits), sum(row_count) FROM (
      SELECT user_id, created_at / 86400000 AS day, type, status, amount AS credits, 1 AS row_count FROM new_rows) delta
    GROUP BY user_id, day, type, status
    HAVING sum(row_count) <> 0 OR sum(credits) <> 0
    ORDER BY user_id, day, type, status
    ON CONFLICT (user_id, day, type, status) DO UPDATE SET credits = u.credits + excluded.credits, row_count = u.row_count + excluded.row_count;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO user_daily_totals AS u (user_id, day, type, status, credits, row_count)
    SELECT user_id, day, type, status, sum(credits), sum(row_count) FROM (
      SELECT user_id, created_at / 86400000 AS day, type, status, -amount AS credits, -1 AS row_count FROM old_rows) delta
    GROUP BY user_id, day, type, status
    HAVING sum(row_count) <> 0 OR sum(credits) <> 0
    ORDER BY user_id, day, type, status
    ON CONFLICT (user_id, day, type, status) DO UPDATE SET credits = u.credits + excluded.credits, row_count = u.row_count + excluded.row_count;
  ELSE
    INSERT INTO user_daily_totals AS u (user_id, day, type, status, credits, row_count)
    SELECT user_id, day, type, status, sum(credits), sum(row_count) FROM (
      SELECT user_id, created_at / 86400000 AS day, type, status, amount AS credits, 1 AS row_count FROM new_rows
      UNION ALL
      SELECT user_id, created_at / 86400000 AS day, type, status, -amount AS credits, -1 AS row_count FROM old_rows) delta
    GROUP BY user_id, day, type, status
    HAVING sum(row_count) <> 0 OR sum(credits) <> 0
    ORDER BY user_id, day, type, status
    ON CONFLICT (user_id, day, type, status) DO UPDATE SET credits = u.credits + excluded.credits, row_count = u.row_count + excluded.row_count;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE FUNCTION user_totals_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO user_totals AS t (shard, users, credits)
    SELECT shard, sum(users), sum(credits) FROM (
      SELECT id % 16 AS shard, 1 AS users, credits FROM new_rows) delta
    GROUP BY shard HAVING sum(users) <> 0 OR sum(credits) <> 0 ORDER BY shard
    ON CONFLICT (shard) DO UPDATE SET users = t.users + excluded.users, credits = t.credits + excluded.credits;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO user_totals AS t (shard, users, credits)
    SELECT shard, sum(users), sum(credits) FROM (
      SELECT id % 16 AS shard, -1 AS users, -credits AS credits FROM old_rows) delta
    GROUP BY shard HAVING sum(users) <> 0 OR sum(credits) <> 0 ORDER BY shard
    ON CONFLICT (shard) DO UPDATE SET users = t.users + excluded.users, credits = t.credits + excluded.credits;
  ELSE
    INSERT INTO user_totals AS t (shard, users, credits)
    SELECT shard, sum(users), sum(credits) FROM (
      SELECT id % 16 AS shard, 1 AS users, credits FROM new_rows
      UNION ALL
      SELECT id % 16 AS shard, -1 AS users, -credits AS credits FROM old_rows) delta
    GROUP BY shard HAVING sum(users) <> 0 OR sum(credits) <> 0 ORDER BY shard
    ON CONFLICT (shard) DO UPDATE SET users = t.users + excluded.users, credits = t.credits + excluded.credits;
  END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE FUNCTION totals_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'transactions' THEN DELETE FROM daily_totals; DELETE FROM user_daily_totals; ELSE DELETE FROM user_totals; END IF;
  RETURN NULL;
END $$;
--> statement-breakpoint
CREATE TRIGGER daily_totals_after_insert AFTER INSERT ON transactions
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION daily_totals_apply();
--> statement-breakpoint
CREATE TRIGGER daily_totals_after_update AFTER UPDATE ON transactions
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION daily_totals_apply();
--> statement-breakpoint
CREATE TRIGGER daily_totals_after_delete AFTER DELETE ON transactions
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION daily_totals_apply();
--> statement-breakpoint
CREATE TRIGGER daily_totals_after_truncate AFTER TRUNCATE ON transactions FOR EACH STATEMENT EXECUTE FUNCTION totals_truncate();
--> statement-breakpoint
CREATE TRIGGER user_daily_totals_after_insert AFTER INSERT ON transactions
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_daily_totals_apply();
--> statement-breakpoint
CREATE TRIGGER user_daily_totals_after_update AFTER UPDATE ON transactions
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_daily_totals_apply();
--> statement-breakpoint
CREATE TRIGGER user_daily_totals_after_delete AFTER DELETE ON transactions
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION user_daily_totals_apply();
--> statement-breakpoint
CREATE TRIGGER user_totals_after_insert AFTER INSERT ON users
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_totals_apply();
--> statement-breakpoint
CREATE TRIGGER user_totals_after_update AFTER UPDATE ON users
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION user_totals_apply();
--> statement-breakpoint
CREATE TRIGGER user_totals_after_delete AFTER DELETE ON users
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION user_totals_apply();
--> statement-breakpoint
CREATE TRIGGER user_totals_after_truncate AFTER TRUNCATE ON users FOR EACH STATEMENT EXECUTE FUNCTION totals_truncate();
--> statement-breakpoint
-- Backfill: the figures of every row already there (a database filled before this migration).
INSERT INTO daily_totals (day, type, status, currency, shard, credits, revenue_minor, row_count)
SELECT created_at / 86400000, type, status, daily_totals_currency(type, meta), user_id % 16,
  sum(amount), sum(daily_totals_revenue(type, meta)), count(*)
FROM transactions GROUP BY 1, 2, 3, 4, 5;
--> statement-breakpoint
INSERT INTO user_totals (shard, users, credits)
SELECT id % 16, count(*), sum(credits) FROM users GROUP BY 1;
--> statement-breakpoint
INSERT INTO user_daily_totals (user_id, day, type, status, credits, row_count)
SELECT user_id, created_at / 86400000, type, status, sum(amount), count(*) FROM transactions GROUP BY 1, 2, 3, 4;
