CREATE TABLE `checkout_attempts` (
	`session_id` text PRIMARY KEY NOT NULL,
	`user_id` integer NOT NULL,
	`pack` text NOT NULL,
	`credits` integer NOT NULL,
	`status` text DEFAULT 'open' NOT NULL,
	`amount_total` integer,
	`currency` text,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE restrict
);
--> statement-breakpoint
CREATE INDEX `checkout_attempts_user_idx` ON `checkout_attempts` (`user_id`,`created_at`);--> statement-breakpoint
CREATE TABLE `disputes` (
	`id` text PRIMARY KEY NOT NULL,
	`user_id` integer NOT NULL,
	`payment_intent_id` text NOT NULL,
	`status` text NOT NULL,
	`funds_withdrawn` integer DEFAULT false NOT NULL,
	`credits_taken` integer DEFAULT 0 NOT NULL,
	`credits_returned` integer DEFAULT 0 NOT NULL,
	`created_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	`updated_at` integer DEFAULT (cast(unixepoch('subsec') * 1000 as integer)) NOT NULL,
	FOREIGN KEY (`user_id`) REFERENCES `users`(`id`) ON UPDATE no action ON DELETE restrict
);
--> statement-breakpoint
CREATE INDEX `disputes_user_idx` ON `disputes` (`user_id`);--> statement-breakpoint
ALTER TABLE `stripe_events` ADD `outcome` text;