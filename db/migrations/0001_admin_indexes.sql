CREATE INDEX `transactions_user_type_time_idx` ON `transactions` (`user_id`,`type`,`created_at`,`status`,`amount`);--> statement-breakpoint
CREATE INDEX `transactions_pending_user_idx` ON `transactions` (`user_id`,`type`,`amount`) WHERE "transactions"."status" = 'pending';--> statement-breakpoint
CREATE INDEX `users_credits_idx` ON `users` (`credits`);