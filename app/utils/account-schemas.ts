import { z } from "zod";
import { EmailSchema, PasswordSchema } from "./auth-schemas";

// The account forms' rules, shared by the actions and Conform in the browser. New passwords follow
// the sign-up rules (PasswordSchema); a current password is only bounded.

const CurrentPassword = z
  .string({ required_error: "Enter your current password" })
  .min(1, "Enter your current password")
  .max(200, "Password must be at most 200 characters");

export const ForgotPasswordSchema = z.object({ email: EmailSchema });

// The token is checked by the service (shape and hash); here only bounded, so a huge value is refused early.
const Token = z.string({ required_error: "This link is not valid" }).min(1, "This link is not valid").max(100, "This link is not valid");

export const ResetPasswordSchema = z.object({ token: Token, password: PasswordSchema });

export const ConfirmEmailChangeSchema = z.object({ token: Token });

export const ChangePasswordSchema = z.object({ currentPassword: CurrentPassword, newPassword: PasswordSchema });

export const ChangeEmailSchema = z.object({ newEmail: EmailSchema, password: CurrentPassword });

export const DELETE_CONFIRMATION = "DELETE";

export const DeleteAccountSchema = z.object({
  password: CurrentPassword,
  confirm: z
    .string({ required_error: `Type ${DELETE_CONFIRMATION} to confirm` })
    .max(50, `Type ${DELETE_CONFIRMATION} to confirm`)
    .refine((v) => v.trim() === DELETE_CONFIRMATION, `Type ${DELETE_CONFIRMATION} to confirm`),
});

export const ACCOUNT_INTENTS = ["change-password", "change-email", "sign-out-others", "delete-account"] as const;
export type AccountIntent = (typeof ACCOUNT_INTENTS)[number];
