// The source tree's layers point down only, and no file imports itself round a
// cycle. Every relative import in src/**/*.ts counts: static, `import type`,
// `export ... from` and dynamic import(). Read with TypeScript's own parser
// (already a dev dependency), so multi-line and type-only imports are exact.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('../../src', import.meta.url));

/** Bottom first: a folder may import its own layer's folders (acyclically) and
 * any layer below, never one above. README.md "Architecture" draws the same. */
const LAYERS: readonly (readonly string[])[] = [
  ['shared'],
  ['data'],
  ['core', 'teach'],
  ['checkpoint', 'hf'],
  ['export', 'node'],
  ['cli', 'worker'],
  ['ui'],
];

/** Imports of these folders that must be `import type` only (the UI holds no
 * worker code: it talks to the worker through comlink). */
const TYPE_ONLY: Record<string, readonly string[]> = { ui: ['worker'] };

interface Edge {
  from: string; // src-relative file
  to: string; // src-relative file
  spec: string;
  typeOnly: boolean;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return walk(p);
    return e.name.endsWith('.ts') ? [p] : [];
  });
}

function resolveFile(fromFile: string, spec: string, files: Set<string>): string | undefined {
  const base = path.resolve(path.dirname(fromFile), spec);
  for (const c of [base, `${base}.ts`, path.join(base, 'index.ts'), base.replace(/\.js$/, '.ts')]) {
    if (files.has(c)) return c;
  }
  return undefined;
}

function importsOf(file: string): { spec: string; typeOnly: boolean }[] {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: { spec: string; typeOnly: boolean }[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const c = node.importClause;
      const typeOnly =
        !!c &&
        (c.isTypeOnly ||
          (!c.name &&
            !!c.namedBindings &&
            ts.isNamedImports(c.namedBindings) &&
            c.namedBindings.elements.length > 0 &&
            c.namedBindings.elements.every((e) => e.isTypeOnly)));
      out.push({ spec: node.moduleSpecifier.text, typeOnly });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      out.push({ spec: node.moduleSpecifier.text, typeOnly: node.isTypeOnly });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      if (arg && ts.isStringLiteralLike(arg)) out.push({ spec: arg.text, typeOnly: false });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      out.push({ spec: node.argument.literal.text, typeOnly: true });
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return out;
}

function graph(): { files: string[]; edges: Edge[]; unresolved: string[]; packages: Map<string, string[]> } {
  const abs = walk(SRC);
  const set = new Set(abs);
  const rel = (f: string): string => path.relative(SRC, f).split(path.sep).join('/');
  const edges: Edge[] = [];
  const unresolved: string[] = [];
  const packages = new Map<string, string[]>(); // file -> packages it imports at run time
  for (const f of abs) {
    for (const { spec, typeOnly } of importsOf(f)) {
      if (!spec.startsWith('.')) {
        if (!typeOnly) packages.set(rel(f), [...(packages.get(rel(f)) ?? []), spec]);
        continue;
      }
      if (/\.(css|json|wasm)$/.test(spec) || spec.endsWith('?raw')) continue; // an asset (or a file as text), not code
      // Vite's `?url` / `?worker&url` imports give the built file's URL, a
      // string: the importer loads none of its code (the page starts the
      // teacher worker from it), so the edge counts as type-only
      const asUrl = /\?(worker&)?url$/.test(spec);
      if (asUrl) {
        const to = resolveFile(f, spec.replace(/\?.*$/, ''), set);
        if (to) edges.push({ from: rel(f), to: rel(to), spec, typeOnly: true });
        else unresolved.push(`${rel(f)} imports '${spec}'`);
        continue;
      }
      const to = resolveFile(f, spec, set);
      if (to) edges.push({ from: rel(f), to: rel(to), spec, typeOnly });
      else unresolved.push(`${rel(f)} imports '${spec}'`);
    }
  }
  return { files: abs.map(rel), edges, unresolved, packages };
}

const folderOf = (file: string): string => file.split('/')[0] ?? '';

function layerOf(folder: string): number {
  return LAYERS.findIndex((l) => l.includes(folder));
}

/** Every upward or wrongly typed import, as "file imports 'spec' (why)". */
function layerViolations(edges: readonly Edge[]): string[] {
  const bad: string[] = [];
  for (const e of edges) {
    const a = folderOf(e.from);
    const b = folderOf(e.to);
    if (a === b) continue;
    const la = layerOf(a);
    const lb = layerOf(b);
    if (la < 0) bad.push(`${e.from}: folder src/${a} has no layer`);
    else if (lb < 0) bad.push(`${e.from} imports '${e.spec}': folder src/${b} has no layer`);
    else if (lb > la) bad.push(`${e.from} imports '${e.spec}' (${a} must not import ${b}, a layer above it)`);
    else if (TYPE_ONLY[a]?.includes(b) && !e.typeOnly) bad.push(`${e.from} imports '${e.spec}' (${a} may import only types from ${b})`);
  }
  return bad;
}

/** Each import cycle between files through imports that load code, once,
 * as "a -> b -> ... -> a". Type-only imports are left out: TypeScript erases
 * them, so they cannot order module evaluation; the registry needs one
 * (ModelConfig names the family ids, and every family reads a ModelConfig),
 * while a cycle that loads code would leave one module half-initialised. */
function cycles(files: readonly string[], edges: readonly Edge[]): string[] {
  const next = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const e of edges) if (!e.typeOnly) next.get(e.from)?.push(e.to);
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const found = new Set<string>();
  const visit = (f: string): void => {
    state.set(f, 'open');
    stack.push(f);
    for (const t of next.get(f) ?? []) {
      const s = state.get(t);
      if (s === 'open') {
        const loop = stack.slice(stack.indexOf(t));
        // One name per cycle, whichever file the search entered it by.
        const start = loop.indexOf([...loop].sort()[0] as string);
        const canon = [...loop.slice(start), ...loop.slice(0, start)];
        found.add([...canon, canon[0]].join(' -> '));
      } else if (s === undefined) visit(t);
    }
    stack.pop();
    state.set(f, 'done');
  };
  for (const f of files) if (!state.has(f)) visit(f);
  return [...found].sort();
}

/** Files `from` loads at run time (type-only imports load nothing). */
function loaded(from: string, edges: readonly Edge[]): Set<string> {
  const seen = new Set([from]);
  const todo = [from];
  while (todo.length) {
    const f = todo.pop() as string;
    for (const e of edges) {
      if (e.from !== f || e.typeOnly || seen.has(e.to)) continue;
      seen.add(e.to);
      todo.push(e.to);
    }
  }
  return seen;
}

describe('src layering', () => {
  const { files, edges, unresolved, packages } = graph();

  it('reads the tree (guards against a vacuous pass)', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(edges.length).toBeGreaterThan(300);
    expect(edges.some((e) => e.typeOnly)).toBe(true);
    expect(edges.some((e) => e.from === 'cli/main.ts' && e.to === 'cli/train.ts')).toBe(true); // a dynamic import()
    expect(unresolved).toEqual([]);
  });

  it('every import points down the layers (shared <- data <- core <- checkpoint/hf <- export/node <- cli/worker <- ui)', () => {
    expect(layerViolations(edges)).toEqual([]);
  });

  it('the UI loads no tfjs, not even through what it imports', () => {
    const bad: string[] = [];
    for (const ui of files.filter((f) => f.startsWith('ui/'))) {
      for (const f of loaded(ui, edges))
        for (const p of packages.get(f) ?? []) if (p.startsWith('@tensorflow/')) bad.push(`${ui} loads ${f}, which imports ${p}`);
    }
    expect(bad).toEqual([]);
  });

  it('no import cycles between files (through imports that load code)', () => {
    expect(cycles(files, edges)).toEqual([]);
  });

  it('the checks catch what they are for', () => {
    const e = (from: string, to: string, typeOnly = false): Edge => ({ from, to, spec: `../${to}`, typeOnly });
    expect(layerViolations([e('shared/a.ts', 'core/b.ts', true)])).toHaveLength(1);
    expect(layerViolations([e('ui/a.ts', 'worker/b.ts')])).toHaveLength(1);
    expect(layerViolations([e('ui/a.ts', 'worker/b.ts', true), e('export/a.ts', 'core/b.ts')])).toEqual([]);
    expect(cycles(['a', 'b', 'c'], [e('a', 'b'), e('b', 'c'), e('c', 'a')])).toEqual(['a -> b -> c -> a']);
    expect(cycles(['a', 'b'], [e('a', 'b')])).toEqual([]);
    expect(cycles(['a', 'b'], [e('a', 'b'), e('b', 'a', true)])).toEqual([]);
    expect([...loaded('a', [e('a', 'b'), e('b', 'c'), e('c', 'd', true)])]).toEqual(['a', 'b', 'c']);
  });
});
