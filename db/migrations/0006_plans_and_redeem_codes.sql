CREATE TABLE `redeem_codes` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`code` text NOT NULL,
	`credits` integer NOT NULL,
	`credits_expire_after_ms` integer,
	`max_redemptions` integer NOT NULL,
	`redemption_count` integer DEFAULT 0 NOT NULL,
	`redeemable_until` integer,
	`created_by` integer NOT NULL,
	`disabled_at` integer,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`created_by`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE restrict,
	CONSTRAINT "redeem_codes_count" CHECK("redeem_codes"."redemption_count" >= 0 and "redeem_codes"."redemption_count" <= "redeem_codes"."max_redemptions")
);
--> statement-breakpoint
CREATE UNIQUE INDEX `redeem_codes_code_unique` ON `redeem_codes` (`code`);--> statement-breakpoint
CREATE TABLE `redemptions` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`code_id` integer NOT NULL,
	`user_id` integer NOT NULL,
	`tx_id` integer NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`code_id`) REFERENCES `redeem_codes`(`id`) ON UPDATE no action ON DELETE restrict,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE restrict,
	FOREIGN KEY (`tx_id`) REFERENCES `transactions`(`id`) ON UPDATE no action ON DELETE restrict
);
--> statement-breakpoint
CREATE UNIQUE INDEX `redemptions_once_idx` ON `redemptions` (`code_id`,`user_id`);--> statement-breakpoint
CREATE INDEX `redemptions_user_idx` ON `redemptions` (`user_id`);--> statement-breakpoint
CREATE TABLE `subscription_periods` (
	`invoice_id` text PRIMARY KEY NOT NULL,
	`subscription_id` text NOT NULL,
	`user_id` integer NOT NULL,
	`plan_id` text,
	`status` text NOT NULL,
	`period_start` integer NOT NULL,
	`period_end` integer NOT NULL,
	`tx_id` integer,
	`payment_intent_id` text,
	`amount_paid` integer,
	`currency` text,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE restrict,
	FOREIGN KEY (`tx_id`) REFERENCES `transactions`(`id`) ON UPDATE no action ON DELETE restrict
);
--> statement-breakpoint
CREATE INDEX `subscription_periods_sub_idx` ON `subscription_periods` (`subscription_id`,`period_start`);--> statement-breakpoint
CREATE INDEX `subscription_periods_user_idx` ON `subscription_periods` (`user_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `subscription_periods_payment_idx` ON `subscription_periods` (`payment_intent_id`);--> statement-breakpoint
CREATE TABLE `subscriptions` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` integer NOT NULL,
	`stripe_customer_id` text NOT NULL,
	`plan_id` text,
	`price_id` text NOT NULL,
	`status` text NOT NULL,
	`current_period_start` integer,
	`current_period_end` integer,
	`cancel_at_period_end` integer DEFAULT false NOT NULL,
	`canceled_at` integer,
	`ended_at` integer,
	`stripe_event_created` integer DEFAULT 0 NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE restrict
);
--> statement-breakpoint
CREATE INDEX `subscriptions_user_idx` ON `subscriptions` (`user_id`,`created_at`);--> statement-breakpoint
ALTER TABLE `credit_grants` ADD `expiry_warned_at` integer;