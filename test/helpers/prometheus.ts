/** Test helper: `/metrics` of a server, parsed by an independent parser (parse-prometheus-text-format), by family name. */
import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';

export async function scrape(url: string): Promise<{ contentType: string; families: Map<string, ParsedFamily> }> {
  const res = await fetch(`${url}/metrics`);
  if (res.status !== 200) throw new Error(`GET /metrics: ${res.status}`);
  const families = parsePrometheusTextFormat(await res.text());
  return { contentType: res.headers.get('content-type') ?? '', families: new Map(families.map((f) => [f.name, f])) };
}

/** The value of the sample of `family` whose labels include `labels` (undefined if none). */
export function sample(families: Map<string, ParsedFamily>, family: string, labels: Record<string, string> = {}): number | undefined {
  const f = families.get(family);
  const s = f?.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  if (s === undefined) return undefined;
  return Number(s.value ?? s.count);
}
