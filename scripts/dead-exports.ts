// Lists the names src/ exports that no other file imports (src, test, bench,
// scripts, support): each is either used only in its own file (drop the
// `export`) or not at all (dead code). `npx tsx scripts/dead-exports.ts`;
// exits 1 when it finds any, so it can gate a review.
//
// Conservative: `import * as X`, `export *` and a dynamic import() count
// every export of that module as used.

import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const ROOT = path.resolve(import.meta.dirname, '..');
const DIRS = ['src', 'test', 'bench', 'scripts', 'support'];

function walk(dir: string): string[] {
  let entries: import('node:fs').Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : walk(p);
    return /\.(ts|mts)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

const files = [...DIRS.flatMap((d) => walk(path.join(ROOT, d))), path.join(ROOT, 'vite.config.ts'), path.join(ROOT, 'vitest.config.ts')];
const known = new Set(files);

function resolve(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined;
  const base = path.resolve(path.dirname(from), spec);
  return [base, `${base}.ts`, path.join(base, 'index.ts'), base.replace(/\.js$/, '.ts')].find((c) => known.has(c));
}

const used = new Map<string, Set<string>>(); // file -> names other files import
const allUsed = new Set<string>(); // files whose every export counts as used
const exported = new Map<string, string[]>(); // src file -> its exported names

const use = (file: string, name: string): void => {
  const s = used.get(file) ?? new Set<string>();
  used.set(file, s);
  s.add(name);
};

for (const file of files) {
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const names: string[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const to = resolve(file, node.moduleSpecifier.text);
      const c = node.importClause;
      if (to && c) {
        if (c.name) use(to, 'default');
        const nb = c.namedBindings;
        if (nb && ts.isNamespaceImport(nb)) allUsed.add(to);
        else if (nb) for (const el of nb.elements) use(to, (el.propertyName ?? el.name).text);
      }
    } else if (ts.isExportDeclaration(node)) {
      const to = node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier) ? resolve(file, node.moduleSpecifier.text) : undefined;
      const clause = node.exportClause;
      if (to && !clause) allUsed.add(to);
      if (clause && ts.isNamedExports(clause)) {
        for (const el of clause.elements) {
          if (to) use(to, (el.propertyName ?? el.name).text);
          names.push(el.name.text);
        }
      }
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [arg] = node.arguments;
      const to = arg && ts.isStringLiteralLike(arg) ? resolve(file, arg.text) : undefined;
      if (to) allUsed.add(to);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      const to = resolve(file, node.argument.literal.text);
      if (to) {
        if (node.qualifier && ts.isIdentifier(node.qualifier)) use(to, node.qualifier.text);
        else allUsed.add(to);
      }
    }
    const mods = ts.canHaveModifiers(node) ? ts.getModifiers(node) : undefined;
    if (node.parent === sf && mods?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) {
      if (ts.isVariableStatement(node)) {
        for (const d of node.declarationList.declarations) if (ts.isIdentifier(d.name)) names.push(d.name.text);
      } else if ('name' in node && node.name && ts.isIdentifier(node.name as ts.Node)) {
        names.push((node.name as ts.Identifier).text);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  if (path.relative(ROOT, file).startsWith('src/')) exported.set(file, names);
}

let count = 0;
for (const [file, names] of exported) {
  if (allUsed.has(file)) continue;
  const text = readFileSync(file, 'utf8');
  for (const name of names) {
    if (used.get(file)?.has(name)) continue;
    const local = (text.match(new RegExp(`\\b${name}\\b`, 'g')) ?? []).length > 1;
    console.log(`${path.relative(ROOT, file)}\t${name}\t${local ? 'used in its file: drop the export' : 'unused: dead code'}`);
    count++;
  }
}
console.error(`${count} exported names no other file imports`);
process.exitCode = count ? 1 : 0;
