import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { simpleParser, type ParsedMail } from "mailparser";
import { SMTPServer } from "smtp-server";
import { freePort } from "./server";

// A real SMTP server for the mail tests (smtp-server on 127.0.0.1, a free port): the app's sender
// speaks SMTP to it exactly as to a provider. Messages count as delivered only once the server
// answered 250 to their DATA, as a real server would.

export type ReceivedMail = { parsed: ParsedMail; envelopeTo: string[]; envelopeFrom: string; raw: string; user?: string };

/** accept: 250; refuse: 451 at MAIL FROM (a temporary outage); hang: takes the data, never answers. */
export type SmtpMode = "accept" | "refuse" | "hang";

export type TestSmtpServer = {
  port: number;
  /** smtp://user:pass@127.0.0.1:port (or without credentials when started without auth). */
  url: string;
  /** PEM of the self-signed certificate when started with STARTTLS (for NODE_EXTRA_CA_CERTS). */
  certFile?: string;
  mails: ReceivedMail[];
  /** Sessions that reached MAIL FROM, accepted or not: the sender's attempts. */
  attempts: number;
  setMode(mode: SmtpMode): void;
  waitForMail(match: { to: string; subject?: string | RegExp }, timeoutMs?: number): Promise<ReceivedMail>;
  /** Every delivered message to `to` (for exactly-once checks). */
  mailsTo(to: string): ReceivedMail[];
  close(): Promise<void>;
};

function selfSignedCert(): { key: string; cert: string; certFile: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "smtp-tls-"));
  const keyFile = path.join(dir, "key.pem");
  const certFile = path.join(dir, "cert.pem");
  execFileSync(
    "openssl",
    ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", keyFile, "-out", certFile],
    { stdio: "ignore" },
  );
  return { key: fs.readFileSync(keyFile, "utf8"), cert: fs.readFileSync(certFile, "utf8"), certFile };
}

export async function startSmtpServer(opts: { auth?: { user: string; pass: string }; starttls?: boolean } = {}): Promise<TestSmtpServer> {
  const port = await freePort();
  const mails: ReceivedMail[] = [];
  let mode: SmtpMode = "accept";
  let attempts = 0;
  const tls = opts.starttls ? selfSignedCert() : undefined;

  const server = new SMTPServer({
    logger: false,
    banner: "test smtp",
    disabledCommands: [...(opts.auth ? [] : ["AUTH"]), ...(tls ? [] : ["STARTTLS"])],
    authOptional: !opts.auth,
    allowInsecureAuth: true,
    ...(tls ? { key: tls.key, cert: tls.cert } : {}),
    onAuth(auth, _session, callback) {
      if (opts.auth && auth.username === opts.auth.user && auth.password === opts.auth.pass) callback(null, { user: auth.username });
      else callback(Object.assign(new Error("Invalid username or password"), { responseCode: 535 }));
    },
    onMailFrom(_address, session, callback) {
      attempts++;
      if (opts.auth && !session.user) return callback(Object.assign(new Error("Authentication required"), { responseCode: 530 }));
      if (tls && !session.secure) return callback(Object.assign(new Error("Must issue STARTTLS first"), { responseCode: 530 }));
      if (mode === "refuse") return callback(Object.assign(new Error("Service temporarily unavailable"), { responseCode: 451 }));
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on("data", (c: Buffer) => chunks.push(c));
      stream.on("end", () => {
        if (mode === "hang") return; // never answered: the client cannot know it arrived
        const raw = Buffer.concat(chunks).toString("utf8");
        simpleParser(raw).then(
          (parsed) => {
            mails.push({
              parsed,
              raw,
              envelopeTo: session.envelope.rcptTo.map((r) => r.address),
              envelopeFrom: session.envelope.mailFrom ? session.envelope.mailFrom.address : "",
              user: typeof session.user === "string" ? session.user : undefined,
            });
            callback(null, `queued as test-${mails.length}`);
          },
          (error: Error) => callback(error),
        );
      });
    },
  });
  server.on("error", () => {
    // a client that vanished (the app killed mid-send): nothing to do
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));

  const credentials = opts.auth ? `${encodeURIComponent(opts.auth.user)}:${encodeURIComponent(opts.auth.pass)}@` : "";
  const matches = (m: ReceivedMail, match: { to: string; subject?: string | RegExp }) =>
    m.envelopeTo.includes(match.to) &&
    (match.subject === undefined || (typeof match.subject === "string" ? m.parsed.subject === match.subject : match.subject.test(m.parsed.subject ?? "")));

  return {
    port,
    url: `smtp://${credentials}127.0.0.1:${port}`,
    certFile: tls?.certFile,
    mails,
    get attempts() {
      return attempts;
    },
    setMode(next) {
      mode = next;
    },
    async waitForMail(match, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = mails.find((m) => matches(m, match));
        if (found) return found;
        if (Date.now() > deadline) {
          throw new Error(`no mail to ${match.to}${match.subject ? ` (${String(match.subject)})` : ""} within ${timeoutMs} ms; got ${mails.length}: ${mails.map((m) => `${m.envelopeTo.join(",")} "${m.parsed.subject}"`).join("; ")}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    mailsTo(to) {
      return mails.filter((m) => m.envelopeTo.includes(to));
    },
    close() {
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
