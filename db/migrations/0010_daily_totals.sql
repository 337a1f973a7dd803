CREATE TABLE `daily_totals` (
	`day` integer NOT NULL,
	`type` text NOT NULL,
	`status` text NOT NULL,
	`currency` text NOT NULL,
	`shard` integer NOT NULL,
	`credits` integer NOT NULL,
	`revenue_minor` integer NOT NULL,
	`row_count` integer NOT NULL,
	PRIMARY KEY(`day`, `type`, `status`, `currency`, `shard`)
);
--> statement-breakpoint
CREATE TABLE `user_daily_totals` (
	`user_id` integer NOT NULL,
	`day` integer NOT NULL,
	`type` text NOT NULL,
	`status` text NOT NULL,
	`credits` integer NOT NULL,
	`row_count` integer NOT NULL,
	PRIMARY KEY(`user_id`, `day`, `type`, `status`)
);
--> statement-breakpoint
CREATE TABLE `user_totals` (
	`shard` integer PRIMARY KEY NOT NULL,
	`users` integer NOT NULL,
	`credits` integer NOT NULL
);
