CREATE TABLE "daily_totals" (
	"day" bigint NOT NULL,
	"type" text NOT NULL,
	"status" text NOT NULL,
	"currency" text NOT NULL,
	"shard" bigint NOT NULL,
	"credits" bigint NOT NULL,
	"revenue_minor" bigint NOT NULL,
	"row_count" bigint NOT NULL,
	CONSTRAINT "daily_totals_day_type_status_currency_shard_pk" PRIMARY KEY("day","type","status","currency","shard")
);
--> statement-breakpoint
CREATE TABLE "user_daily_totals" (
	"user_id" bigint NOT NULL,
	"day" bigint NOT NULL,
	"type" text NOT NULL,
	"status" text NOT NULL,
	"credits" bigint NOT NULL,
	"row_count" bigint NOT NULL,
	CONSTRAINT "user_daily_totals_user_id_day_type_status_pk" PRIMARY KEY("user_id","day","type","status")
);
--> statement-breakpoint
CREATE TABLE "user_totals" (
	"shard" bigint PRIMARY KEY NOT NULL,
	"users" bigint NOT NULL,
	"credits" bigint NOT NULL
);
