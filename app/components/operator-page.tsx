export function OperatorPageView({ title, paragraphs, supportEmail }: { title: string; paragraphs: string[]; supportEmail: string | null }) {
  return (
    <article className="card max-w-prose space-y-4">
      <h1 className="text-2xl font-bold">{title}</h1>
      {paragraphs.map((p, i) => (
        <p key={i} className="whitespace-pre-line text-slate-800">
          {p}
        </p>
      ))}
      {supportEmail ? (
        <p className="text-slate-800">
          Contact:{" "}
          <a className="text-indigo-700 underline" href={`mailto:${supportEmail}`}>
            {supportEmail}
          </a>
        </p>
      ) : null}
    </article>
  );
}
