ALTER TABLE `generations` ADD `lease_owner` text;--> statement-breakpoint
ALTER TABLE `generations` ADD `lease_until` integer;