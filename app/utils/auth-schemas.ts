import { z } from "zod";

// Shared by the server (actions) and the browser (Conform's client-side validation), so it must
// not live in a *.server.ts module.

export const EmailSchema = z
  .string({ required_error: "Email is required" })
  .trim()
  .min(1, "Email is required")
  .max(254, "Email is too long")
  .email("Enter a valid email address")
  .transform((v) => v.toLowerCase());

export const PasswordSchema = z
  .string({ required_error: "Password is required" })
  .min(8, "Password must be at least 8 characters")
  .max(200, "Password must be at most 200 characters");

export const LoginSchema = z.object({
  email: EmailSchema,
  password: z.string({ required_error: "Password is required" }).min(1, "Password is required").max(200),
  redirectTo: z.string().optional(),
});

export const SignupSchema = z.object({
  email: EmailSchema,
  password: PasswordSchema,
  redirectTo: z.string().optional(),
});
