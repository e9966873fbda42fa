// The order test files start in: the longest first, whichever project they
// belong to, so that the two workers finish together (vitest's own order runs
// the projects one after the other and, in a fresh clone with no timings
// cached, the larger files first: a 3-minute file then started last and ran
// alone at the end). The costs are seconds a file took in one clean-clone `npm test` on
// the 2-core machine; only the order uses them, and a file not listed runs
// after these, largest first.
import { statSync } from 'node:fs';
import path from 'node:path';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

const COST: Record<string, number> = {
  // 156 s building its teacher GGUF (support/teacher-gguf.ts; a fresh machine, or a change
  // to the CLI's train or export code), 21 s with it kept: first, so that the build
  // is done before test/e2e/teacher.test.ts asks for the same file
  'test/unit/teach-engine.test.ts': 156,
  'test/e2e/device-loss.test.ts': 96,
  'test/unit/fused-webgpu.test.ts': 90,
  'test/unit/cli.test.ts': 84,
  'test/e2e/pretrained.test.ts': 79,
  'test/e2e/app.test.ts': 77,
  'test/unit/packed-webgpu.test.ts': 73,
  'test/unit/gpu-bench-script.test.ts': 65,
  'test/e2e/gguf-wllama.test.ts': 60,
  'test/unit/hf-parity.test.ts': 57,
  'test/unit/recipe-train.test.ts': 35,
  'test/unit/device-loss.test.ts': 56,
  'test/unit/export-peft.test.ts': 49,
  'test/e2e/blocked-db.test.ts': 46,
  'test/unit/export-hf.test.ts': 43,
  'test/unit/cli-kill.test.ts': 39,
  'test/unit/export-tokenizer.test.ts': 36,
  'test/unit/worker-compare.test.ts': 33,
  'test/unit/cli-student.test.ts': 27,
  'test/e2e/fallback.test.ts': 25,
  'test/unit/cli-experiment.test.ts': 25,
  'test/e2e/teacher.test.ts': 18, // with the demo teacher GGUF already built (support/teacher-gguf.ts)
  'test/unit/cli-export.test.ts': 18,
  'test/unit/hf-transformers.test.ts': 16,
  'test/unit/export-gguf.test.ts': 16,
  'test/unit/torch-ref.test.ts': 14,
  'test/e2e/wasm-threads.test.ts': 13,
  'test/unit/hf-bench.test.ts': 13,
  'test/unit/curated-jsonl.test.ts': 13,
  'test/unit/cli-teach.test.ts': 9,
  'test/e2e/ux.test.ts': 12,
  'test/unit/recipe-loss.test.ts': 5,
  'test/unit/packed-direct.test.ts': 4,
};

export default class LongestFirst extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const root = this.ctx.config.root;
    const key = (f: TestSpecification): [number, number] => {
      const rel = path.relative(root, f.moduleId).split(path.sep).join('/');
      return [COST[rel] ?? 0, statSync(f.moduleId).size];
    };
    const keys = new Map(files.map((f) => [f, key(f)]));
    return [...files].sort((a, b) => {
      const [ca, sa] = keys.get(a)!;
      const [cb, sb] = keys.get(b)!;
      return cb - ca || sb - sa;
    });
  }
}
