/**
 * A strict RFC 4180 reader for the tests: records end in CRLF, a field is either bare (no quote,
 * comma, CR or LF in it) or wholly quoted with inner quotes doubled. Anything else throws, so a
 * test that parses an export back also checks that it was escaped.
 */
export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = "";
  let i = 0;
  const fail = (why: string) => {
    throw new Error(`not RFC 4180 at ${i} (${why}): ${JSON.stringify(text.slice(Math.max(0, i - 40), i + 40))}`);
  };
  while (i < text.length) {
    if (text[i] === '"' && field === "") {
      // A quoted field: up to the closing quote, "" standing for one quote.
      i++;
      for (;;) {
        if (i >= text.length) fail("unterminated quote");
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i++];
      }
      if (i < text.length && text[i] !== "," && text[i] !== "\r") fail("text after a closing quote");
      continue;
    }
    const c = text[i];
    if (c === ",") {
      record.push(field);
      field = "";
      i++;
    } else if (c === "\r") {
      if (text[i + 1] !== "\n") fail("CR without LF");
      record.push(field);
      records.push(record);
      record = [];
      field = "";
      i += 2;
    } else if (c === "\n" || c === '"') {
      fail(`bare ${JSON.stringify(c)}`);
    } else {
      field += c;
      i++;
    }
  }
  if (field !== "" || record.length > 0) fail("last record without CRLF");
  return records;
}

/** A whole byte stream as text, and how many chunks it came in (a streamed export's batches). */
export async function readTextStream(stream: ReadableStream<Uint8Array>): Promise<{ text: string; chunks: number }> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let chunks = 0;
  for (let r = await reader.read(); !r.done; r = await reader.read()) {
    chunks++;
    text += decoder.decode(r.value, { stream: true });
  }
  return { text: text + decoder.decode(), chunks };
}
