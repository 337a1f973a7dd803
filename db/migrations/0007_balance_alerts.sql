CREATE TABLE `balance_alerts` (
	`user_id` integer PRIMARY KEY NOT NULL,
	`threshold_credits` integer NOT NULL,
	`fired_at` integer,
	`fired_tx_id` integer,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE cascade,
	CONSTRAINT "balance_alerts_threshold_positive" CHECK("balance_alerts"."threshold_credits" > 0)
);
