/**
 * Text ↔ token ids for a decoder. The committed model's tokenizer is character-level: its vocabulary
 * is a list of single characters, id = index (`<model>.tokenizer.json`: {"kind": "char", "vocab": [...]}).
 * Other models take and return token ids (no tokenizer). A character outside the vocabulary is
 * refused with its position, never dropped or replaced silently.
 */
import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from '../errors.js';

export interface TokenizerSpec {
  readonly kind: 'char';
  readonly vocab: readonly string[];
}

export class CharTokenizer {
  private readonly ids: ReadonlyMap<string, number>;

  constructor(readonly spec: TokenizerSpec) {
    this.ids = new Map(spec.vocab.map((c, i) => [c, i]));
  }

  get size(): number {
    return this.spec.vocab.length;
  }

  encode(text: string): number[] {
    return [...text].map((c, i) => {
      const id = this.ids.get(c);
      if (id === undefined) throw new InvalidArgumentError(`character ${JSON.stringify(c)} at position ${i} is not in the model's vocabulary of ${this.size} characters`);
      return id;
    });
  }

  decode(ids: readonly number[]): string {
    return ids.map((id) => this.spec.vocab[id] ?? '\uFFFD').join('');
  }
}

/** Checks a parsed tokenizer file; `where` names it in errors. */
export function tokenizerSpec(raw: unknown, where: string): TokenizerSpec {
  const bad = (why: string): never => {
    throw new InvalidArgumentError(`${where}: ${why}`);
  };
  if (raw === null || typeof raw !== 'object') return bad('expected a JSON object {"kind": "char", "vocab": [...]}');
  const { kind, vocab } = raw as { kind?: unknown; vocab?: unknown };
  if (kind !== 'char') bad(`tokenizer kind ${JSON.stringify(kind)} is not supported (only "char"; give token ids instead)`);
  if (!Array.isArray(vocab) || vocab.length === 0 || !vocab.every((c) => typeof c === 'string' && [...c].length === 1)) bad('"vocab" must be a non-empty list of single characters');
  if (new Set(vocab as string[]).size !== (vocab as string[]).length) bad('"vocab" lists a character twice');
  return { kind: 'char', vocab: vocab as string[] };
}

export function readTokenizer(path: string): TokenizerSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new InvalidArgumentError(`cannot read tokenizer ${path}: ${(e as Error).message}`, { cause: e });
  }
  return tokenizerSpec(raw, path);
}
