// Small in-memory question groups for core tests: arithmetic with several
// rationales each, curated the way src/data does (canonical answer sentence).
import type { QuestionGroup } from '../../src/data/types';
import { canonicalAnswerSentence } from '../../src/data/types';
import { DEFAULT_TRAIN, type ModelConfig, type TrainConfig } from '../../src/core/config';
import { Tokenizer } from '../../src/core/tokenizer';

function rationale(body: string, answer: string): QuestionGroup['rationales'][number] {
  const sentence = canonicalAnswerSentence(answer);
  const text = `${body}\n${sentence}`;
  const answerStart = text.length - sentence.length + sentence.indexOf(answer, sentence.length - answer.length - 1);
  return { text, answerStart, answerEnd: answerStart + answer.length };
}

export function toyGroups(n: number): QuestionGroup[] {
  const out: QuestionGroup[] = [];
  for (let i = 0; i < n; i++) {
    const a = 2 + (i % 7);
    const b = 3 + ((i * 5) % 11);
    const ans = String(a + b);
    out.push({
      id: `q${i}`,
      question: `Ann has ${a} apples and gets ${b} more. How many apples does she have?`,
      answer: ans,
      rationales: [
        rationale(`She starts with ${a} and adds ${b}: ${a} + ${b} = ${ans}.`, ans),
        rationale(`${b} more than ${a} is ${ans} apples.`, ans),
        rationale(`Add the apples: ${a} plus ${b} makes ${ans}.`, ans),
      ],
    });
  }
  return out;
}

export function tinyConfig(o: Partial<TrainConfig> = {}): TrainConfig {
  return {
    ...DEFAULT_TRAIN,
    preset: 'tiny',
    vocabSize: 300,
    batchSize: 4,
    steps: 20,
    warmupSteps: 2,
    lr: 3e-3,
    minLr: 3e-4,
    backend: 'cpu',
    ...o,
  };
}

/** A byte-level BPE of `vocab` tokens trained on the groups' questions and rationales. */
export function toyTokenizer(groups: QuestionGroup[], vocab = 300): Tokenizer {
  return Tokenizer.train(
    (function* () {
      for (const g of groups) {
        yield g.question;
        for (const r of g.rationales) yield r.text;
      }
    })(),
    vocab,
  );
}

/** A one-layer LLaMA with GQA and an untied head, small enough to build on any backend. */
export const tinyLlamaConfig: ModelConfig = {
  arch: 'llama',
  vocabSize: 50,
  blockSize: 16,
  nLayer: 1,
  nHead: 2,
  nKvHead: 1,
  nEmbd: 8,
  intermediateSize: 12,
  ropeTheta: 10000,
  layerNormEps: 1e-6,
  tieWordEmbeddings: false,
};
