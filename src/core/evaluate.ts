// Evaluation on the device, shared by the CLI and (later) the worker: greedy
// accuracy with batched, KV-cached decoding, and the consistency metrics of
// sampled rationales (src/core/consistency.ts defines them). Every tensor is
// made in a tf.tidy or disposed; what crosses back to the host is token ids,
// and for the answer KL an [N] vector and an [N, N] matrix per batch.

import * as tf from '@tensorflow/tfjs-core';
import type { ModelConfig } from './config';
import type { StudentTokenizer } from './tokenizer';
import { forwardHidden, headLogits, headParts, type Params } from './model';
import { decodeBatch } from './generate';
import { gatherRows } from './ops';
import { paddedLength } from './batch';
import { Rng } from '../shared/rng';
import { formatPrompt } from '../data/template';
import { answersMatch, extractAnswer, gradeGeneration } from '../data/answer';
import type { EvalItem, EvalSample, TaskType } from '../data/types';
import {
  answerSpanAfterCue,
  majorityAnswer,
  MAX_CONSISTENCY_SAMPLES,
  meanPairwiseKL,
  summarizeConsistency,
  type ConsistencySummary,
  type QuestionSamples,
} from './consistency';

/** What evaluation reads of a student. */
export interface EvalModel {
  params: Params;
  modelConfig: ModelConfig;
  tokenizer: StudentTokenizer;
  promptTemplate?: string;
}

/** Rows decoded together by default: enough to fill a step on a GPU, small
 * enough that the KV cache of a pretrained student stays modest. */
export const EVAL_BATCH = 16;

interface GreedyEvalOptions {
  taskType: TaskType;
  limit?: number;
  maxNewTokens?: number;
  /** Rows decoded together (default EVAL_BATCH). */
  batchSize?: number;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

interface GreedyEvalResult {
  accuracy: number;
  correct: number;
  total: number;
  samples: EvalSample[];
}

const defaultMaxNew = (c: ModelConfig): number => Math.min(200, c.blockSize);

/** The ids a question's generation starts from: its prompt, cut to the last blockSize. */
export function promptIdsOf(m: EvalModel, question: string): number[] {
  return m.tokenizer.promptIds(formatPrompt(question, m.promptTemplate)).slice(-m.modelConfig.blockSize);
}

/** Decodes every prompt in batches of similar length (fewer lockstep steps
 * spent feeding the longer prompts); results in the prompts' order. */
async function decodeAll(
  m: EvalModel,
  prompts: number[][],
  o: {
    maxNewTokens: number;
    batchSize: number;
    temperature?: number;
    rngs?: Rng[];
    signal?: AbortSignal;
    onBatch?: (done: number) => void;
  },
): Promise<number[][]> {
  const order = prompts.map((_, i) => i).sort((a, b) => prompts[a].length - prompts[b].length || a - b);
  const out: number[][] = new Array<number[]>(prompts.length);
  let done = 0;
  for (let s = 0; s < order.length; s += o.batchSize) {
    if (o.signal?.aborted) throw new Error('evaluation cancelled');
    const rows = order.slice(s, s + o.batchSize);
    const ids = await decodeBatch(
      m.params,
      m.modelConfig,
      rows.map((i) => prompts[i]),
      {
        maxNewTokens: o.maxNewTokens,
        eosId: m.tokenizer.eosId,
        padId: m.tokenizer.padId,
        ...(o.temperature ? { temperature: o.temperature, rngs: rows.map((i) => o.rngs![i]) } : {}),
      },
    );
    rows.forEach((i, k) => {
      out[i] = ids[k];
    });
    done += rows.length;
    o.onBatch?.(done);
  }
  return out;
}

/** Greedy accuracy: each question's generation graded as the teacher's
 * rationales are read (gradeGeneration). */
export async function evaluateGreedy(m: EvalModel, items: readonly EvalItem[], o: GreedyEvalOptions): Promise<GreedyEvalResult> {
  const list = items.slice(0, o.limit ?? items.length);
  const ids = await decodeAll(
    m,
    list.map((it) => promptIdsOf(m, it.question)),
    {
      maxNewTokens: o.maxNewTokens ?? defaultMaxNew(m.modelConfig),
      batchSize: o.batchSize ?? EVAL_BATCH,
      signal: o.signal,
      onBatch: (done) => o.onProgress?.(done, list.length),
    },
  );
  const samples = list.map((it, i) => gradeGeneration(it, m.tokenizer.decode(ids[i]), o.taskType));
  const correct = samples.filter((s) => s.correct).length;
  return { accuracy: list.length ? correct / list.length : 0, correct, total: list.length, samples };
}

export interface ConsistencyOptions {
  taskType: TaskType;
  /** Rationales sampled per question (M >= 2). */
  samples: number;
  /** Sampling temperature (default 1). */
  temperature?: number;
  /** Seed of the samples (default 1): the same seed gives the same samples
   * whatever the batch size. */
  seed?: number;
  /** Temperature of the answer distributions compared by the KL (default 1:
   * the student's own distribution). */
  klTemperature?: number;
  limit?: number;
  maxNewTokens?: number;
  /** Rows decoded together (default EVAL_BATCH). */
  batchSize?: number;
  /** The greedy evaluation of the same items when already done (its
   * accuracy is reported alongside); otherwise it is run here. */
  greedy?: GreedyEvalResult;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export interface ConsistencyResult extends ConsistencySummary {
  samples: number;
  temperature: number;
  seed: number;
  klTemperature: number;
  /** Greedy decoding's accuracy on the same questions. */
  greedyAccuracy: number;
  greedyCorrect: number;
  /** A few questions' sampled answers, for a look. */
  examples: { id: string; gold: string; answers: (string | null)[]; majority: string | null; kl: number | null }[];
}

/** Samples M rationales per question (batched; seeded per question and
 * sample), grades their answers and measures how much the answer
 * distribution depends on the rationale (consistency.ts gives the
 * definitions). */
export async function evaluateConsistency(m: EvalModel, items: readonly EvalItem[], o: ConsistencyOptions): Promise<ConsistencyResult> {
  if (!Number.isInteger(o.samples) || o.samples < 2 || o.samples > MAX_CONSISTENCY_SAMPLES)
    throw new Error(`consistency takes 2 to ${MAX_CONSISTENCY_SAMPLES} samples per question, got ${o.samples}`);
  const temperature = o.temperature ?? 1;
  if (!(temperature > 0)) throw new Error(`the sampling temperature must be positive, got ${temperature}`);
  const seed = o.seed ?? 1;
  const klTemperature = o.klTemperature ?? 1;
  const list = items.slice(0, o.limit ?? items.length);
  const M = o.samples;
  const maxNewTokens = o.maxNewTokens ?? defaultMaxNew(m.modelConfig);
  const batchSize = o.batchSize ?? EVAL_BATCH;
  const greedy = o.greedy ?? (await evaluateGreedy(m, list, { taskType: o.taskType, maxNewTokens, batchSize, signal: o.signal }));
  if (greedy.total !== list.length) throw new Error(`the greedy result covers ${greedy.total} questions, not ${list.length}`);

  // one generator per (question, sample), drawn in a fixed order from the seed
  const master = new Rng(seed);
  const prompts: number[][] = [];
  const rngs: Rng[] = [];
  for (const it of list) {
    const p = promptIdsOf(m, it.question);
    for (let s = 0; s < M; s++) {
      prompts.push(p);
      rngs.push(new Rng(master.nextUint32()));
    }
  }
  const ids = await decodeAll(m, prompts, {
    maxNewTokens,
    batchSize,
    temperature,
    rngs,
    signal: o.signal,
    onBatch: (done) => o.onProgress?.(done, prompts.length),
  });
  const texts = ids.map((x) => m.tokenizer.decode(x));
  const kls = await answerKLs(m, list, texts, M, { klTemperature, batchSize });

  const per: QuestionSamples[] = list.map((it, q) => {
    const answers = texts.slice(q * M, (q + 1) * M).map((t) => extractAnswer(t, o.taskType, it.choices));
    const maj = majorityAnswer(answers).answer;
    return {
      answers,
      correct: answers.map((a) => answersMatch(a, it.answer, o.taskType)),
      majorityCorrect: answersMatch(maj, it.answer, o.taskType),
      kl: kls[q],
    };
  });
  return {
    ...summarizeConsistency(per),
    samples: M,
    temperature,
    seed,
    klTemperature,
    greedyAccuracy: greedy.accuracy,
    greedyCorrect: greedy.correct,
    examples: per
      .slice(0, 5)
      .map((p, q) => ({ id: list[q].id, gold: list[q].answer, answers: p.answers, majority: majorityAnswer(p.answers).answer, kl: p.kl })),
  };
}

/** Per question, the mean pairwise symmetric KL of the next-token
 * distributions at the first answer position of its samples (null below two
 * samples with an answer cue). Questions are batched whole, so that one
 * [N, V] @ [V, N] product holds every pair of each question in the batch;
 * the forward runs on at most `batchSize` rows at a time (a question with
 * more samples than that is run in parts), so only the [N, V]
 * distributions grow with the samples (N <= MAX_CONSISTENCY_SAMPLES). */
export async function answerKLs(
  m: EvalModel,
  list: readonly EvalItem[],
  texts: string[],
  M: number,
  o: { klTemperature: number; batchSize: number },
): Promise<(number | null)[]> {
  const { modelConfig: c, tokenizer: tok } = m;
  // per question, the inputs up to the answer's first token (exclusive)
  const rowsOf: number[][][] = list.map((it, q) => {
    const prompt = formatPrompt(it.question, m.promptTemplate);
    const rows: number[][] = [];
    for (const text of texts.slice(q * M, (q + 1) * M)) {
      const span = answerSpanAfterCue(text);
      if (!span) continue;
      // the training example's encoding puts a token boundary where the answer begins
      const e = tok.example(prompt, { text, answerStart: span.start, answerEnd: span.end });
      if (e.spanStart < 1 || e.spanStart > c.blockSize) continue;
      rows.push(e.ids.slice(0, e.spanStart));
    }
    return rows;
  });
  const out: (number | null)[] = list.map(() => null);
  let q = 0;
  while (q < list.length) {
    const qs: number[] = [];
    let n = 0;
    // whole questions per batch (at least one, even when it alone is larger)
    while (q < list.length && (qs.length === 0 || n + rowsOf[q].length <= o.batchSize)) {
      if (rowsOf[q].length >= 2) {
        qs.push(q);
        n += rowsOf[q].length;
      }
      q++;
    }
    if (n === 0) continue;
    const rows = qs.flatMap((i) => rowsOf[i]);
    const parts: tf.Tensor2D[] = [];
    let t: { neg: tf.Tensor; cross: tf.Tensor };
    try {
      for (let a = 0; a < n; a += o.batchSize) parts.push(answerLogProbs(m, rows.slice(a, a + o.batchSize), o.klTemperature));
      t = tf.tidy(() => {
        const lp = parts.length === 1 ? parts[0] : tf.concat(parts, 0); // [N, V]
        const p = tf.exp(lp);
        return { neg: tf.sum(tf.mul(p, lp), 1), cross: tf.matMul(p, lp, false, true) }; // [N]; [N, V] @ [V, N] -> [N, N]
      });
    } finally {
      tf.dispose(parts);
    }
    const [neg, cross] = await Promise.all([t.neg.data(), t.cross.data()]);
    tf.dispose([t.neg, t.cross]);
    let at = 0;
    for (const i of qs) {
      const k = rowsOf[i].length;
      const idx = Array.from({ length: k }, (_, j) => at + j);
      out[i] = meanPairwiseKL(
        idx.map((a) => neg[a]),
        idx.map((a) => idx.map((b) => cross[a * n + b])),
      );
      at += k;
    }
  }
  return out;
}

/** The log-probabilities [R, V] at the last position of each of `rows` (one
 * forward over them, right-padded: a position never attends to the padding
 * after it). */
function answerLogProbs(m: EvalModel, rows: number[][], klTemperature: number): tf.Tensor2D {
  const { modelConfig: c, tokenizer: tok } = m;
  const T = paddedLength(Math.max(...rows.map((r) => r.length)), c.blockSize);
  const flat = new Int32Array(rows.length * T).fill(tok.padId);
  rows.forEach((r, i) => {
    flat.set(r, i * T);
  });
  return tf.tidy(() => {
    const { hidden } = forwardHidden(m.params, c, tf.tensor2d(flat, [rows.length, T], 'int32')); // [R*T, d]
    const last = gatherRows(
      hidden,
      tf.tensor1d(
        rows.map((r, i) => i * T + r.length - 1),
        'int32',
      ),
    ); // [R, d]
    return tf.logSoftmax(tf.div(headLogits(last, headParts(m.params, c)), klTemperature)) as tf.Tensor2D; // [R, d] @ [V, d]^T -> [R, V]
  });
}
