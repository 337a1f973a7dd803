CREATE TABLE `credit_grants` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`user_id` integer NOT NULL,
	`source_tx_id` integer,
	`kind` text NOT NULL,
	`amount` integer NOT NULL,
	`remaining` integer NOT NULL,
	`expires_at` integer,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`closed_at` integer,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE restrict,
	FOREIGN KEY (`source_tx_id`) REFERENCES `transactions`(`id`) ON UPDATE no action ON DELETE restrict,
	CONSTRAINT "credit_grants_remaining" CHECK("credit_grants"."remaining" >= 0 or "credit_grants"."kind" = 'debt')
);
--> statement-breakpoint
CREATE UNIQUE INDEX `credit_grants_source_tx_id_unique` ON `credit_grants` (`source_tx_id`);--> statement-breakpoint
CREATE INDEX `credit_grants_live_idx` ON `credit_grants` (`user_id`,`closed_at`,`expires_at`,`id`) WHERE "credit_grants"."closed_at" is null and "credit_grants"."remaining" <> 0;--> statement-breakpoint
CREATE INDEX `credit_grants_due_idx` ON `credit_grants` (`expires_at`) WHERE "credit_grants"."closed_at" is null and "credit_grants"."expires_at" is not null;--> statement-breakpoint
CREATE INDEX `credit_grants_user_idx` ON `credit_grants` (`user_id`,`id`);--> statement-breakpoint
CREATE UNIQUE INDEX `credit_grants_one_debt_idx` ON `credit_grants` (`user_id`) WHERE "credit_grants"."kind" = 'debt';--> statement-breakpoint
CREATE TABLE `grant_draws` (
	`tx_id` integer NOT NULL,
	`grant_id` integer NOT NULL,
	`amount` integer NOT NULL,
	PRIMARY KEY(`tx_id`, `grant_id`),
	FOREIGN KEY (`tx_id`) REFERENCES `transactions`(`id`) ON UPDATE no action ON DELETE restrict,
	FOREIGN KEY (`grant_id`) REFERENCES `credit_grants`(`id`) ON UPDATE no action ON DELETE restrict,
	CONSTRAINT "grant_draws_positive" CHECK("grant_draws"."amount" > 0)
);
--> statement-breakpoint
CREATE INDEX `grant_draws_grant_idx` ON `grant_draws` (`grant_id`);--> statement-breakpoint
-- Backfill (hand-written): the balance each user has now becomes one grant that never expires, so
-- users.credits == SUM(remaining) of unclosed grants holds from the first moment. A negative
-- balance (a clawback that found too little) becomes the user's debt grant.
INSERT INTO `credit_grants` (`user_id`, `source_tx_id`, `kind`, `amount`, `remaining`, `expires_at`, `closed_at`)
SELECT `id`, NULL, 'opening', `credits`, `credits`, NULL, NULL FROM `users` WHERE `credits` > 0;
--> statement-breakpoint
INSERT INTO `credit_grants` (`user_id`, `source_tx_id`, `kind`, `amount`, `remaining`, `expires_at`, `closed_at`)
SELECT `id`, NULL, 'debt', 0, `credits`, NULL, NULL FROM `users` WHERE `credits` < 0;
