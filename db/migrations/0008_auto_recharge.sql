CREATE TABLE `auto_recharge_attempts` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`user_id` integer NOT NULL,
	`pack_id` text NOT NULL,
	`credits` integer NOT NULL,
	`amount` integer NOT NULL,
	`currency` text NOT NULL,
	`payment_method_id` text NOT NULL,
	`status` text DEFAULT 'claimed' NOT NULL,
	`payment_intent_id` text,
	`tx_id` integer,
	`failure_code` text,
	`balance_at_claim` integer NOT NULL,
	`threshold_credits` integer NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE restrict,
	FOREIGN KEY (`tx_id`) REFERENCES `transactions`(`id`) ON UPDATE no action ON DELETE restrict
);
--> statement-breakpoint
CREATE UNIQUE INDEX `auto_recharge_attempts_payment_intent_id_unique` ON `auto_recharge_attempts` (`payment_intent_id`);--> statement-breakpoint
CREATE UNIQUE INDEX `auto_recharge_in_flight_idx` ON `auto_recharge_attempts` (`user_id`) WHERE status in ('claimed', 'sent');--> statement-breakpoint
CREATE INDEX `auto_recharge_attempts_user_idx` ON `auto_recharge_attempts` (`user_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `auto_recharge_attempts_status_idx` ON `auto_recharge_attempts` (`status`,`updated_at`);--> statement-breakpoint
CREATE TABLE `auto_recharge_settings` (
	`user_id` integer PRIMARY KEY NOT NULL,
	`enabled` integer DEFAULT false NOT NULL,
	`threshold_credits` integer NOT NULL,
	`pack_id` text NOT NULL,
	`max_recharges_per_month` integer,
	`max_amount_per_month` integer,
	`consecutive_failures` integer DEFAULT 0 NOT NULL,
	`disabled_reason` text,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE restrict,
	CONSTRAINT "auto_recharge_threshold_positive" CHECK("auto_recharge_settings"."threshold_credits" > 0)
);
--> statement-breakpoint
CREATE TABLE `saved_cards` (
	`user_id` integer PRIMARY KEY NOT NULL,
	`payment_method_id` text NOT NULL,
	`brand` text NOT NULL,
	`last4` text NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE restrict
);
